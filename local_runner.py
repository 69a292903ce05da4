"""Runs the pipeline on this machine with TFX's LocalDagRunner and an SQLite ML Metadata store.

    python local_runner.py [--preset mnist] [--quick] [--train-epochs 5] [--verbose] ...   (make run FLAGS=...)
    tfx pipeline create --engine local --pipeline_path local_runner.py
    tfx run create --engine local --pipeline_name digits-convnet

``python local_runner.py --help`` explains every flag; the run itself is ``local/run.py``.
"""

import sys

from cli.errors import exit_without_teardown
from local.run import in_tfx_cli, main

if __name__ == "__main__":
    # `tfx pipeline create` executes this file inside its own process, which must go on after it.
    (sys.exit if in_tfx_cli() else exit_without_teardown)(main())
