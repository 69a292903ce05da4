"""What the pipeline benchmarks share: flags, a fresh output root, MNIST prepared once, timed runs, MLMD readings."""

import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple, Sequence

from cli.parsing import Parser
from data import prepare
from inspection import history, results
from inspection.store import open_store
from models.features import ACCURACY
from pipeline import flags


class TimedRun(NamedTuple):
    """One pipeline process: its wall time and when it started and ended (seconds since the epoch)."""

    wall: float
    started: float
    ended: float


def timed_run(pipeline_args: list) -> TimedRun:
    """Runs the local pipeline in a new process, as a user does (imports included); returns its times."""
    started = time.time()
    subprocess.run([sys.executable, "-m", "local_runner", *pipeline_args], check=True)
    ended = time.time()
    return TimedRun(ended - started, started, ended)


def setup(argv, prog: str, description: str, prefix: str) -> tuple:
    """Parses a benchmark's flags and prepares MNIST: returns (args, pipeline flags, config, output root).

    Its own flags and every pipeline flag (pipeline/flags.py), which the runs it starts get; the
    preset is mnist and the output root a new temporary folder named ``prefix...`` unless given.
    """
    own, parser = build_parsers(prog, description)
    args = parser.parse_args(argv)  # every flag checked, --help answered
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    _, pipeline_flags = own.parse_known_args(argv)
    output_root = args.output_root or tempfile.mkdtemp(prefix=prefix)
    pipeline_args = ["--preset", "mnist", "--output-root", output_root, *pipeline_flags]
    config = flags.parse_args(pipeline_args)
    prepare.prepare("mnist", config.data_root, source=args.mnist_source, overwrite=True)
    return args, pipeline_args, config, output_root


def build_parsers(prog: str, description: str) -> tuple:
    """(the benchmark's own flags, every flag: its own and the pipeline's)."""
    own = Parser(prog, description, add_help=False)
    own.add_argument(
        "--mnist-source", required=True, help="folder of MNIST IDX files (make: ../shared/datasets/mnist-10k)"
    )
    own.add_argument("--repeats", type=int, default=1, help="cold runs per side (medians and ranges are printed)")
    parser = Parser(prog, description, parents=[own])
    flags.add_flags(parser, output_root="")
    return own, parser


def evaluation(metadata_path: str, pipeline_name: str, run_id: str = "latest") -> tuple:
    """(accuracy, split name, example count or None) of a run's Evaluator, from MLMD."""
    store = open_store(metadata_path)
    run = history.get_run(store, pipeline_name, run_id, with_output="ModelEvaluation")
    metrics = results.evaluation_metrics(store, run.run_id)
    count = metrics["overall"].get(results.EXAMPLE_COUNT)  # the TFX example's EvalConfig counts none
    return metrics["overall"][ACCURACY], metrics["split"], None if count is None else int(count)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """``median (min-max)`` of ``values``, or the one value."""
    if len(values) == 1:
        return fmt.format(values[0])
    low, high = min(values), max(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(low)}-{fmt.format(high)})"
