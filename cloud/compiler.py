"""Compiles ``create_pipeline`` into a KFP v2 pipeline job (JSON) for Vertex AI Pipelines or Kubeflow Pipelines 2.

    python kubeflow_v2_runner.py --cloud-config cloud.yaml [--output outputs/compiled/pipeline.json]
    PIPELINE_CLOUD_CONFIG=cloud.yaml tfx pipeline compile --engine vertex --pipeline_path kubeflow_v2_runner.py

It builds the same ``create_pipeline`` DAG as the local runner, from the cloud config
(``cloud/cloud_config.py``: gs:// paths, Dataflow, Vertex Training and endpoint). The tfx CLI runs the
runner with no arguments: the cloud config then comes from $PIPELINE_CLOUD_CONFIG and the output
path from $PIPELINE_OUTPUT_ROOT. Run the job here first with ``python -m cloud.preflight``, then
submit it with ``python -m cloud.submit``, which sends what this wrote (moved by ``reroot`` when a
run gets its own pipeline root). TFX loads only inside ``compile_pipeline``, after the cloud config
has been checked. Exit status: 0 compiled, 2 a bad flag or cloud config (cli/errors.py).
"""

import json
import os
import re
import tempfile

from cli.errors import run_command
from cli.parsing import Parser
from cloud import cloud_config as cloud_lib
from cloud import kfp_check
from pipeline.config import DEFAULT_OUTPUT_ROOT, OUTPUT_ROOT_ENV, ConfigError

OUTPUT_NAME = "pipeline.json"
PROG = "kubeflow_v2_runner.py"
VERTEX, KFP = "vertex", "kfp"
TARGETS = (VERTEX, KFP)
# The module every TFX step runs in the image, and the wrapper that a Kubeflow Pipelines step runs instead.
TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
KFP_ENTRYPOINT = "cloud.kfp_entrypoint"


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


def compile_pipeline(cloud: cloud_lib.CloudConfig, output_path: str, target: str = VERTEX) -> dict:
    """Writes the pipeline job for ``cloud`` and ``target`` to ``output_path`` and returns it as a dict.

    Raises ``cloud_lib.CloudConfigError`` (a ``ConfigError``) before compiling when the config is wrong,
    and ``kfp_check.KfpIncompatible`` (also one) for a job Kubeflow Pipelines would refuse: nothing is
    written then.
    """
    config = cloud_lib.pipeline_config(cloud)
    # TFX takes seconds to import: a wrong config has failed before this point.
    from tfx import v1 as tfx

    from cloud.executors import with_code_check
    from cloud.vertex import CloudComponents
    from pipeline import dag

    pipeline = dag.create_pipeline(config, factory=CloudComponents(cloud))
    with_code_check(pipeline)
    with tempfile.TemporaryDirectory() as folder:
        runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
            # Schema 2.1 (typed parameters) is the only one KFP 2 backends take; Vertex AI reads both.
            config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
                default_image=cloud.image, use_pipeline_spec_2_1=True
            ),
            output_dir=folder,
            output_filename=OUTPUT_NAME,
        )
        # Runtime parameters' defaults go into the job's runtimeConfig: the spec only declares their types.
        job = for_target(runner.run(pipeline, parameter_values=runtime_parameters(pipeline)), target)
    if target == KFP:
        kfp_check.check(job)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    with open(output_path, "w") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    return job


def tasks(spec: dict):
    """Every ``(name, task)`` of a pipeline spec's DAGs, the root's and any nested DAG component's."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec.get("components", {}).values() if "dag" in c]
    for dag in dags:
        yield from dag.get("tasks", {}).items()


def for_target(job: dict, target: str) -> dict:
    """``job`` made ready for ``target``: never-cached steps, and on KFP the image's entrypoint wrapper.

    TFX compiles one caching option for every step, so the DAG's ``NEVER_CACHED`` steps get theirs
    turned off here. On Kubeflow Pipelines each container step runs ``cloud.kfp_entrypoint``, which
    puts back what KFP's launcher leaves out of the ExecutorInput before TFX's own entrypoint runs
    (BUILD_NOTES.md, "Kubeflow Pipelines 2").
    """
    from pipeline.dag import NEVER_CACHED

    job = json.loads(json.dumps(job))
    spec = job["pipelineSpec"]
    for name, task in tasks(spec):
        if name in NEVER_CACHED:
            task["cachingOptions"] = {"enableCache": False}
    if target == KFP:
        for executor in spec["deploymentSpec"]["executors"].values():
            container = executor.get("container", {})
            if container.get("command", [])[-1:] == [TFX_ENTRYPOINT]:
                container["command"] = [*container["command"][:-1], KFP_ENTRYPOINT]
    return job


def reroot(job: dict, pipeline_root: str) -> dict:
    """``job`` with ``pipeline_root`` as its root: every path under the compiled root moves under the new one.

    The compiled spec holds, besides the artifacts' root itself, paths that TFX fixes at compile
    time under it: the Tuner's TensorBoard logs and the Trainer's backups (in their
    ``custom_config``), the default serving folder (the Pusher's ``push_destination``) and
    Dataflow's temp location (the Beam args). Each string value of the spec that names the old
    root, or a path below it, names the new root instead; runtime parameter values stay as given.
    """
    old, new = job["runtimeConfig"]["gcsOutputDirectory"].rstrip("/"), pipeline_root.rstrip("/")
    # The root itself or a path below it, never a sibling such as gs://bucket/pipelines-old.
    pattern = re.compile(re.escape(old) + r"(?=/|\"|$)")

    def move(value):
        if isinstance(value, str):
            return pattern.sub(lambda _: new, value)
        if isinstance(value, list):
            return [move(item) for item in value]
        if isinstance(value, dict):
            return {key: move(item) for key, item in value.items()}
        return value

    return {
        **job,
        "pipelineSpec": move(job["pipelineSpec"]),
        "runtimeConfig": {**job["runtimeConfig"], "gcsOutputDirectory": new},
    }


def rooted_paths(job: dict) -> list:
    """The distinct paths under ``job``'s pipeline root that its spec names (what ``reroot`` moves)."""
    root = re.escape(job["runtimeConfig"]["gcsOutputDirectory"].rstrip("/"))
    # A path ends at a quote, a backslash (an escaped quote in JSON), a comma or white space.
    return sorted(set(re.findall(root + r'/[^"\\,\s]*', json.dumps(job["pipelineSpec"]))))


def build_parser() -> Parser:
    """Every flag of ``kubeflow_v2_runner.py``."""
    parser = Parser(PROG, __doc__)
    parser.add_argument("--cloud-config", help=f"the cloud config, YAML or JSON (default ${cloud_lib.ENV_VAR})")
    parser.add_argument("--output", default=default_output(), help="where the compiled pipeline job goes")
    parser.add_argument(
        "--target", choices=TARGETS, default=VERTEX, help="Vertex AI Pipelines, or open-source Kubeflow Pipelines 2"
    )
    return parser


def main(argv=None) -> int:
    """Entry point of ``kubeflow_v2_runner.py``: loads the cloud config and compiles; a bad config is one line."""
    args = build_parser().parse_args(argv)

    def body() -> None:
        job = compile_pipeline(cloud_lib.load(args.cloud_config), args.output, args.target)
        name, parameters = job["pipelineSpec"]["pipelineInfo"]["name"], job["runtimeConfig"].get("parameterValues", {})
        print(f"pipeline {name}: compiled to {args.output} (runtime parameters: {', '.join(sorted(parameters))})")

    return run_command(PROG, body, usage=(ConfigError,))
