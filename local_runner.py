"""Runs the pipeline on this machine with TFX's LocalDagRunner and a SQLite metadata store.

    python local_runner.py [--dataset mnist] [--quick] [--train-epochs 5] [--verbose] ...   (or: make run FLAGS=...)
    tfx pipeline create --engine local --pipeline_path local_runner.py
    tfx run create --engine local --pipeline_name digits-convnet

The terminal shows each component starting and ending, the Tuner's trials, the Trainer's epochs
and a summary; everything else (TensorFlow, Beam, warnings) goes to a log file per run under
<output root>/logs/ (``--verbose`` also shows it live). The tfx CLI runs this file with no
arguments; it then reads the same flags from the environment variable PIPELINE_FLAGS (for
example PIPELINE_FLAGS="--dataset mnist"). Exit status: 0 done, 1 the run failed, 2 a bad flag,
configuration or input (console/errors.py).
"""

import datetime
import logging
import os
import shlex
import sys
import time
from typing import Sequence

from console.errors import run_command
from local.checks import (
    PipelineError,
    check_inputs,
    check_metadata_store,
    check_writable,
    known_cause,
    remember_verified,
)
from local.console import RunConsole
from local.locking import exclusive_run
from pipeline import config as config_lib
from pipeline import flags

FLAGS_ENV = "PIPELINE_FLAGS"


def in_tfx_cli() -> bool:
    """Whether the tfx CLI is executing this file in its own process to compile the DSL (``tfx pipeline create``)."""
    return "tfx.tools.cli.handler.base_handler" in sys.modules


def check(config: config_lib.PipelineConfig) -> None:
    """The checks before anything is written, in this order so that a bad input leaves nothing behind."""
    verified = check_inputs(config)
    check_metadata_store(config)
    check_writable(config)
    remember_verified(config, verified)


def run(config: config_lib.PipelineConfig) -> None:
    """Runs ``create_pipeline(config)`` to completion with LocalDagRunner; raises on failure."""
    from pipeline import dag
    from pipeline import tfx_api as tfx

    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    tfx.orchestration.LocalDagRunner().run(dag.create_pipeline(config, metadata))


def failure(err: Exception, log_path: str) -> PipelineError:
    """One line for a failed run: the input problem that caused it, or the error; the log has the rest."""
    cause = known_cause(err)
    message = str(cause) if cause else f"the run failed: {type(err).__name__}: {' '.join(str(err).split())[:300]}"
    return PipelineError(f"{message}\n  log: {log_path}")


def run_with_console(config: config_lib.PipelineConfig, pipeline_flags: Sequence[str], verbose: bool) -> None:
    """Runs with the terminal kept for progress and the summary, and everything else in this run's log file."""
    from local.summary import summary_lines

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = os.path.join(config.log_dir, f"{config.pipeline_name}-{stamp}.log")
    started = time.monotonic()
    with RunConsole(log_path, verbose) as console:
        console.line(
            f"Running {config.pipeline_name} (output in {os.path.dirname(config.pipeline_root)}; log {log_path})"
        )
        try:
            run(config)
        except Exception as err:  # noqa: BLE001  (any failure becomes one line; the traceback goes to the log)
            logging.exception("the run failed")
            raise failure(err, log_path) from err
        for line in summary_lines(config, pipeline_flags, log_path, time.monotonic() - started):
            console.line(line)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parses flags (or $PIPELINE_FLAGS), checks, runs, and prints the summary or one error line."""
    if argv is None:
        argv = sys.argv[1:] or shlex.split(os.environ.get(FLAGS_ENV, ""))
    parser = flags.flag_parser(description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="also show every library's output live")

    def body() -> None:
        args = vars(parser.parse_args(argv))
        verbose = args.pop("verbose")
        config = flags.from_flags(args)
        check(config)
        with exclusive_run(config.metadata_path, config.pipeline_name):
            if in_tfx_cli():
                run(config)  # the CLI only records the DSL here; `tfx run create` runs this file again
            else:
                run_with_console(config, [flag for flag in argv if flag != "--verbose"], verbose)

    return run_command("pipeline", body)


if __name__ == "__main__":
    sys.exit(main())
