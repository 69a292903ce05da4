"""A run of the pipeline on this machine: flags, checks, one run at a time, the console and its summary.

``local_runner.py`` (the runner at the project root) calls ``main``. The flags come from the command
line or, when the tfx CLI runs the file with none, from $PIPELINE_FLAGS. The config is completed
from the data folder and checked (local/checks.py) before anything is written; the run holds the
store's lock (local/locking.py), shows its progress and ends with a summary read from ML Metadata
(local/console.py, inspection/summary.py). Exit status: 0 done, 1 the run failed, 2 a bad flag,
configuration or input, 130 interrupted (cli/errors.py).
"""

import datetime
import logging
import os
import shlex
import sys
import time
from typing import Sequence

from cli.errors import interrupt_on_signals, run_command
from cli.parsing import Parser, boolean
from data import DataError
from local.checks import (
    PipelineError,
    check_inputs,
    check_metadata_store,
    check_resources,
    check_writable,
    known_cause,
    remember_verified,
)
from local.console import RunConsole
from local.locking import exclusive_run
from pipeline import facts, flags
from pipeline.config import ConfigError, PipelineConfig

FLAGS_ENV = "PIPELINE_FLAGS"
# The runtime parameter TFX substitutes with the run id (tfx.orchestration.portable.base.constants).
PIPELINE_RUN_ID = "pipeline-run-id"
PROG = "local_runner.py"


def in_tfx_cli() -> bool:
    """Whether the tfx CLI is executing the runner in its own process to record the DSL (``tfx pipeline create``)."""
    return "tfx.tools.cli.handler.base_handler" in sys.modules


def check(config: PipelineConfig) -> PipelineConfig:
    """The config completed from the data, after the checks that run before anything is written, in this order."""
    config = facts.complete(config)
    facts.search_space(config)  # a bad hyperparameter file fails here, before TensorFlow loads
    facts.fixed_hyperparameters(config)
    check_resources(config)
    verified = check_inputs(config)
    check_metadata_store(config)
    check_writable(config)
    remember_verified(config, verified)
    return config


def run(config: PipelineConfig, run_id: str = "", recorded=None) -> None:
    """Runs ``create_pipeline(config)`` to completion with TFX's LocalDagRunner as run ``run_id``; raises on failure.

    The DAG's ``NEVER_CACHED`` nodes get caching turned off in the compiled IR, which TFX's DSL has
    no per-node setting for; the tfx CLI, which only records the DSL, gets the pipeline itself.
    ``recorded``, when given, is filled with the DAG as ``{node: [upstream nodes]}`` before the run starts.
    """
    from tfx import v1 as tfx
    from tfx.dsl.compiler import compiler
    from tfx.orchestration.portable import runtime_parameter_utils

    from pipeline import dag

    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)
    pipeline = dag.create_pipeline(config, metadata)
    runner = tfx.orchestration.LocalDagRunner()
    if in_tfx_cli():
        runner.run(pipeline)  # the CLI only records the DSL here; `tfx run create` runs the file again
        return
    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in dag.NEVER_CACHED:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
        if recorded is not None:
            recorded[node.pipeline_node.node_info.id] = sorted(node.pipeline_node.upstream_nodes)
    # The run id LocalDagRunner would pick (the start time), chosen here so the run's context can be found after.
    run_id = run_id or datetime.datetime.now().isoformat()
    runtime_parameter_utils.substitute_runtime_parameter(ir, {PIPELINE_RUN_ID: run_id})
    runner.run_with_ir(ir)


def failure(err: BaseException, log_path: str) -> Exception:
    """One line for a failed run: the input problem behind it (its kind kept), or the error, and the log's path."""
    cause = known_cause(err)
    if cause is not None:
        return type(cause)(f"{cause} (log: {log_path})")
    return PipelineError(f"the run failed: {type(err).__name__}: {' '.join(str(err).split())[:300]} (log: {log_path})")


def run_with_console(config: PipelineConfig, pipeline_flags: Sequence[str], verbose: bool) -> None:
    """Runs with the terminal kept for progress and the summary, and everything else in this run's log file."""
    from inspection.store import open_store
    from inspection.summary import python_command, summary_lines
    from local import bookkeeping  # ML Metadata: loaded for a run, not for --help

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = os.path.join(config.log_dir, f"{config.pipeline_name}-{stamp}.log")
    started = time.monotonic()
    with RunConsole(log_path, verbose) as console:
        console.line(
            f"Running {config.pipeline_name} (output in {os.path.dirname(config.pipeline_root)}; log {log_path})"
        )
        run_id, recorded, error = datetime.datetime.now().isoformat(), {}, ""
        try:
            run(config, run_id, recorded)
        except KeyboardInterrupt:
            cancelled = bookkeeping.record_interrupted(config)
            logging.warning("interrupted: %d execution(s) recorded as CANCELED in %s", cancelled, config.metadata_path)
            error = "interrupted (Ctrl-C or SIGTERM)"
            raise
        except Exception as err:  # noqa: BLE001  (any failure becomes one line; the traceback goes to the log)
            logging.exception("the run failed")
            cause = failure(err, log_path)
            error = str(cause)
            raise cause from err
        finally:
            if recorded:  # compiled: TFX may have recorded the run
                bookkeeping.record_run(config, run_id, pipeline_flags, recorded, log_path, error)
        thresholds = f"; threshold {config.accuracy_lower_bound:g}, tolerance {config.regression_tolerance:g}"
        store = open_store(config.metadata_path)
        lines = summary_lines(store, config.pipeline_name, time.monotonic() - started, thresholds=thresholds)
        python = python_command()
        lines += [
            f"  log            {log_path}",
            "Next:",
            f"  {python} -m inspection metrics {shlex.join(pipeline_flags)}".rstrip(),
            f"  {python} -m serving.server --serving-dir {config.serving_dir} --model-name {config.pipeline_name}",
            f"  {os.path.join(os.path.dirname(python), 'tensorboard')} --logdir {config.pipeline_root}",
        ]
        for line in lines:
            console.line(line)


def build_parser() -> Parser:
    """Every flag of the local run: the pipeline's settings and --verbose."""
    parser = Parser(PROG, __doc__)
    flags.add_flags(parser)
    boolean(parser, "--verbose", default=False, help="also show every library's output live (it is always in the log)")
    return parser


def arguments(argv: Sequence[str] | None) -> list:
    """The command line, or with none (the tfx CLI's way) the words of $PIPELINE_FLAGS."""
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        return list(argv)
    try:
        return shlex.split(os.environ.get(FLAGS_ENV, ""))
    except ValueError as err:
        raise ConfigError(f"${FLAGS_ENV} does not parse as shell words ({err})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parses flags (or $PIPELINE_FLAGS), checks, runs, and prints the summary or one error line."""

    def body() -> None:
        words = arguments(argv)
        args = vars(build_parser().parse_args(words))
        verbose = args.pop("verbose")
        config = check(flags.from_flags(args))
        with exclusive_run(config.metadata_path, config.pipeline_name):
            if in_tfx_cli():
                run(config)
            else:
                run_with_console(config, [word for word in words if word != "--verbose"], verbose)

    interrupt_on_signals()  # a kill stops the run as Ctrl-C does: recorded as CANCELED, one line, exit 130
    return run_command(PROG, body, usage=(ConfigError, DataError), failed=(PipelineError,))
