"""Runs the pipeline on this machine with TFX's LocalDagRunner and a SQLite metadata store.

    python local_runner.py [--dataset mnist] [--quick] [--train-epochs 5] ...     (or: make run FLAGS=...)
    tfx pipeline create --engine local --pipeline_path local_runner.py
    tfx run create --engine local --pipeline_name digits-convnet

The tfx CLI runs this file with no arguments; it then reads the same flags from the
environment variable PIPELINE_FLAGS (for example PIPELINE_FLAGS="--dataset mnist").
Exit status: 0 done, 1 the run failed, 2 a bad flag, configuration or input (console/errors.py).
"""

import os
import shlex
import sys
from typing import Sequence

from console.errors import run_command
from local.checks import check_inputs, check_metadata_store, check_writable, known_cause, remember_verified
from local.locking import exclusive_run
from pipeline import config as config_lib
from pipeline import dag, flags

FLAGS_ENV = "PIPELINE_FLAGS"


def run(config: config_lib.PipelineConfig) -> None:
    """Runs ``create_pipeline(config)`` to completion with LocalDagRunner; raises on failure."""
    from pipeline import tfx_api as tfx

    # Checked in this order so that a bad input leaves nothing behind.
    verified = check_inputs(config)
    check_metadata_store(config)
    check_writable(config)
    remember_verified(config, verified)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    with exclusive_run(config.metadata_path, config.pipeline_name):
        tfx.orchestration.LocalDagRunner().run(dag.create_pipeline(config, metadata))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parses flags (or $PIPELINE_FLAGS), runs, and turns expected failures into one line."""
    if argv is None:
        argv = sys.argv[1:] or shlex.split(os.environ.get(FLAGS_ENV, ""))

    def body() -> None:
        config = flags.parse_args(argv, description=__doc__)
        try:
            run(config)
        except Exception as err:  # noqa: BLE001  (a failure caused by the input becomes one named line)
            cause = known_cause(err)
            if cause is None:
                raise
            raise cause from err
        print(f"pipeline {config.pipeline_name}: run complete; serving folder {config.serving_dir}")

    return run_command("pipeline", body)


if __name__ == "__main__":
    sys.exit(main())
