"""Runs the pipeline on this machine with TFX's LocalDagRunner and a SQLite metadata store.

    python -m pipeline.local_runner [--dataset mnist] [--quick] [--train-epochs 5] ...
    tfx pipeline create --engine local --pipeline_path pipeline/local_runner.py
    tfx run create --engine local --pipeline_name digits-convnet

The tfx CLI runs this file with no arguments; it then reads the same flags from the
environment variable PIPELINE_FLAGS (for example PIPELINE_FLAGS="--dataset mnist").
"""

import os
import sys

if __package__ in (None, ""):
    # The tfx CLI executes this file as a script, with pipeline/ first on sys.path.
    import script_path

    script_path.use_project_root(__file__)

import shlex  # noqa: E402
from typing import Sequence  # noqa: E402

from pipeline import config as config_lib  # noqa: E402  (first: selects Keras 3 before TensorFlow loads)
from pipeline import pipeline as pipeline_lib  # noqa: E402
from pipeline.errors import check_inputs, check_metadata_store, check_writable, describe_failure  # noqa: E402
from pipeline.locking import exclusive_run  # noqa: E402


def run(config: config_lib.PipelineConfig) -> None:
    """Runs ``create_pipeline(config)`` to completion with LocalDagRunner; raises on failure."""
    from tfx import v1 as tfx

    # Checked in this order so that a bad input leaves nothing behind.
    check_inputs(config)
    check_metadata_store(config)
    check_writable(config)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    with exclusive_run(config.metadata_path, config.pipeline_name):
        tfx.orchestration.LocalDagRunner().run(pipeline_lib.create_pipeline(config, metadata))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parses flags (or $PIPELINE_FLAGS), runs, and turns failures into one line."""
    if argv is None:
        argv = sys.argv[1:] or shlex.split(os.environ.get("PIPELINE_FLAGS", ""))
    try:
        config = config_lib.parse_args(argv, description=__doc__)
        run(config)
    except config_lib.ConfigError as err:
        print(f"pipeline: configuration error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001  (any component failure becomes one named line)
        message = describe_failure(err)
        if message is None:
            raise
        print(f"pipeline: run stopped: {message}", file=sys.stderr)
        return 1
    print(f"pipeline {config.pipeline_name}: run complete; serving folder {config.serving_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
