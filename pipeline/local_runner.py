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
    # The tfx CLI executes this file as a script with pipeline/ first on sys.path, where
    # `import pipeline` would find pipeline/pipeline.py; import from the project root instead.
    _HERE = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))

import shlex  # noqa: E402
from typing import Sequence  # noqa: E402

from pipeline import config as config_lib  # noqa: E402  (first: selects Keras 3 before TensorFlow loads)
from pipeline import pipeline as pipeline_lib  # noqa: E402
from pipeline.errors import check_inputs, describe_failure  # noqa: E402


def run(config: config_lib.PipelineConfig) -> None:
    """Runs ``create_pipeline(config)`` to completion with LocalDagRunner; raises on failure."""
    from tfx import v1 as tfx

    check_inputs(config)
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
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
