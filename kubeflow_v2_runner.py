"""Compiles the pipeline into a KFP v2 pipeline job (JSON) for Vertex AI Pipelines or Kubeflow Pipelines 2.

    python kubeflow_v2_runner.py --cloud-config cloud.yaml [--output outputs/compiled/pipeline.json]
    PIPELINE_CLOUD_CONFIG=cloud.yaml tfx pipeline compile --engine vertex --pipeline_path kubeflow_v2_runner.py

It builds the same ``create_pipeline`` DAG as the local runner, from the cloud config
(``cloud/config.py``: gs:// paths, Dataflow, Vertex Training and endpoint). The tfx CLI runs
this file with no arguments: the cloud config then comes from $PIPELINE_CLOUD_CONFIG and the
output path from $PIPELINE_OUTPUT_ROOT. Run it here first with ``python -m cloud.preflight``, then
submit it with ``python -m cloud.submit``.
Exit status: 0 compiled, 2 a bad flag or cloud config (console/errors.py).
"""

import argparse
import sys
from typing import Sequence

from cloud import compiler
from cloud import config as cloud_lib
from console.errors import run_command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: loads the cloud config and compiles; a configuration error is one line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud-config", help=f"YAML or JSON file (default ${cloud_lib.ENV_VAR})")
    parser.add_argument("--output", default=compiler.default_output(), help="default %(default)s")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def body() -> None:
        job = compiler.compile_pipeline(cloud_lib.load(args.cloud_config), args.output)
        name, parameters = job["pipelineSpec"]["pipelineInfo"]["name"], job["runtimeConfig"].get("parameterValues", {})
        print(f"pipeline {name}: compiled to {args.output} (runtime parameters: {', '.join(parameters)})")

    return run_command("kubeflow_v2_runner", body)


if __name__ == "__main__":
    sys.exit(main())
