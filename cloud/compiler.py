"""Compiles ``create_pipeline`` into a KFP v2 pipeline job (JSON) for Vertex AI Pipelines or Kubeflow Pipelines 2.

``kubeflow_v2_runner.py`` (the runner at the project root) and the tests call ``compile_pipeline``;
``cloud.submit`` sends what it wrote. TFX loads only inside ``compile_pipeline``, after the cloud
config has been checked.
"""

import os

from cloud import config as cloud_lib
from pipeline.config import DEFAULT_OUTPUT_ROOT, OUTPUT_ROOT_ENV

OUTPUT_NAME = "pipeline.json"


def default_output(output_root: str | None = None) -> str:
    """Where the compiled pipeline goes by default (and where ``cloud.submit`` looks for it)."""
    output_root = output_root or os.environ.get(OUTPUT_ROOT_ENV, DEFAULT_OUTPUT_ROOT)
    return os.path.join(output_root, "compiled", OUTPUT_NAME)


def runtime_parameters(pipeline) -> dict:
    """Each runtime parameter in ``pipeline``'s components, by name, with its default value."""
    from tfx import v1 as tfx

    return {
        value.name: value.default
        for component in pipeline.components
        for value in component.exec_properties.values()
        if isinstance(value, tfx.dsl.experimental.RuntimeParameter)
    }


def compile_pipeline(cloud: cloud_lib.CloudConfig, output_path: str) -> dict:
    """Writes the pipeline job for ``cloud`` to ``output_path`` and returns it as a dict.

    Raises ``cloud_lib.CloudConfigError`` (a ``ConfigError``) before compiling when the config is wrong.
    """
    config = cloud_lib.pipeline_config(cloud)
    # TFX takes seconds to import: a wrong config has failed before this point.
    from tfx import v1 as tfx

    from cloud.components import CloudComponents
    from pipeline import dag

    pipeline = dag.create_pipeline(config, factory=CloudComponents(cloud))
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        # Schema 2.1 (typed parameters) is what KFP 2 backends expect; Vertex AI reads both.
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=cloud.image, use_pipeline_spec_2_1=True
        ),
        output_dir=os.path.dirname(os.path.abspath(output_path)),
        output_filename=os.path.basename(output_path),
    )
    # Runtime parameters' defaults go into the job's runtimeConfig: the spec only declares their types.
    return runner.run(pipeline, parameter_values=runtime_parameters(pipeline))
