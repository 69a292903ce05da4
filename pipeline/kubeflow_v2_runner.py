"""Compiles the pipeline into a KFP v2 pipeline job (JSON) for Vertex AI Pipelines or Kubeflow Pipelines 2.

    python -m pipeline.kubeflow_v2_runner --cloud-config cloud.yaml [--output outputs/compiled/pipeline.json]
    PIPELINE_CLOUD_CONFIG=cloud.yaml tfx pipeline compile --engine vertex --pipeline_path pipeline/kubeflow_v2_runner.py

It builds the same ``create_pipeline`` DAG as the local runner, from ``pipeline.cloud``'s config
(gs:// paths, Dataflow, Vertex Training and endpoint). The tfx CLI runs this file with no
arguments: the cloud config then comes from $PIPELINE_CLOUD_CONFIG and the output path from
$PIPELINE_OUTPUT_ROOT. Submit the result with ``python -m pipeline.submit``.
"""

import os
import sys

if __package__ in (None, ""):
    # The tfx CLI executes this file as a script, with pipeline/ first on sys.path.
    import script_path

    script_path.use_project_root(__file__)

import argparse  # noqa: E402
from typing import Sequence  # noqa: E402

from pipeline import cloud as cloud_lib  # noqa: E402  (first: selects Keras 3 before TensorFlow loads)

OUTPUT_NAME = "pipeline.json"


def default_output(output_root: str | None = None) -> str:
    """Where the compiled pipeline goes by default (and where pipeline.submit looks for it)."""
    output_root = output_root or os.environ.get("PIPELINE_OUTPUT_ROOT", "outputs")
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
    # TFX takes tens of seconds to import: a wrong config has failed before this point.
    from tfx import v1 as tfx

    from pipeline import pipeline as pipeline_lib
    from pipeline.cloud_components import CloudComponents

    pipeline = pipeline_lib.create_pipeline(config, factory=CloudComponents(cloud))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: loads the cloud config, compiles, and turns a configuration error into one line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud-config", help=f"YAML or JSON file (default ${cloud_lib.ENV_VAR})")
    parser.add_argument("--output", default=default_output(), help="default %(default)s")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    output = args.output
    try:
        job = compile_pipeline(cloud_lib.load(args.cloud_config), output)
    except cloud_lib.config_lib.ConfigError as err:
        print(f"pipeline: configuration error: {err}", file=sys.stderr)
        return 2
    name, parameters = job["pipelineSpec"]["pipelineInfo"]["name"], job["runtimeConfig"].get("parameterValues", {})
    print(f"pipeline {name}: compiled to {output} (runtime parameters: {', '.join(parameters)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
