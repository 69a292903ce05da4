"""Benchmark (prints figures, asserts nothing): the pipeline's cost from 10k to a million examples.

    python -m benchmarks.scale --mnist-source ../shared/datasets/mnist-10k [--sizes 10000,100000,1000000]

MNIST-10k is scaled up by deterministic random affine jitter (shift, small rotation and scale,
seeded by each example's index) to each size, and each size runs cold with a quick training
budget (one epoch, tuning off) so the figures measure the pipeline, then fully cached. Per size
it prints every component's wall time, the peak resident memory of the whole run (Beam's worker
processes included), the artifacts' size on disk and the cached re-run's time; at the largest
size it also runs Beam's multi-processing DirectRunner. A PNG plot of time and memory against
size (log-log) goes next to the output.
"""

import os
import sys
import tempfile

from benchmarks.common import evaluation
from benchmarks.scaling import ScaleRun, component_peaks, jittered_mnist, measure, plot
from cli.parsing import Parser
from data.output import write_dataset
from inspection import history
from inspection.store import open_store
from pipeline.flags import parse_args

QUICK = ["--preset", "mnist", "--tuning-mode", "off", "--train-epochs", "1"]
MULTI_PROCESSING = "--beam-args=--direct_running_mode=multi_processing,--direct_num_workers=2"


def run_size(size: int, args, output_root: str, extra: list) -> ScaleRun:
    """Prepares ``size`` jittered examples (once) and runs the pipeline cold, then cached, on them."""
    data_root = os.path.join(output_root, "data", f"mnist-{size}")
    if not os.path.isdir(data_root):
        write_dataset(jittered_mnist(args.mnist_source, size), data_root, "mnist", total=size)
    root = os.path.join(output_root, f"{size}{'-mp' if extra else ''}")
    flags = [*QUICK, "--output-root", root, "--data-root", data_root, *extra]
    config = parse_args(flags)
    cold = measure(flags)
    cached = measure(flags)
    store = open_store(config.metadata_path)
    first = history.runs(store, config.pipeline_name)[0]
    accuracy, split, _ = evaluation(config.metadata_path, config.pipeline_name, first.run_id)
    return ScaleRun(
        size,
        cold,
        cached,
        {e.node: e.seconds for e in first.executions},
        component_peaks(cold, first.executions),
        _disk_mb(config.pipeline_root),
        _disk_mb(data_root),
        accuracy,
        split,
    )


def _disk_mb(folder: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files) / 2**20


def report(runs: list) -> None:
    """The table: per size, wall times, peak memory, disk, cached re-run, accuracy, and every component."""
    print(
        f"\n{'examples':>10} {'cold s':>8} {'peak MiB':>9} {'artifacts MiB':>14} {'data MiB':>9} {'cached s':>9}"
        f" {'accuracy':>9}  runner"
    )
    for run in runs:
        print(
            f"{run.size:>10} {run.cold.wall:>8.1f} {run.cold.peak_mb:>9.0f} {run.artifacts_mb:>14.1f}"
            f" {run.data_mb:>9.1f} {run.cached.wall:>9.1f} {run.accuracy:>9.4f}  {run.runner}"
        )
    _per_component(runs, "components", "{:>10.1f} ", "seconds per component")
    _per_component(runs, "component_peaks", "{:>10.0f} ", "peak MiB of the process tree while each component ran")


def _per_component(runs: list, field: str, cell: str, what: str) -> None:
    """A table of one per-component figure: a row per component, a column per run."""
    print(
        f"\n{'component':32s}" + "".join(f"{run.size:>10}{'*' if run.runner != 'in-process' else ' '}" for run in runs)
    )
    for node in runs[0].components:
        print(f"{node:32s}" + "".join(cell.format(getattr(run, field).get(node, 0)) for run in runs))
    print(f"({what}; * Beam's multi-processing DirectRunner)")


def build_parser() -> Parser:
    """Every flag of ``python -m benchmarks.scale``."""
    parser = Parser("benchmarks.scale", __doc__)
    parser.add_argument("--mnist-source", required=True, help="folder of MNIST IDX files")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated example counts")
    parser.add_argument("--output-root", default="", help="default: a new temporary folder")
    return parser


def main(argv=None) -> int:
    """Runs every size, the largest also with multi-processing Beam, and prints the table and the plot's path."""
    args = build_parser().parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    output_root = args.output_root or tempfile.mkdtemp(prefix="tfx-scale-")
    runs = [run_size(size, args, output_root, []) for size in sizes]
    runs.append(run_size(sizes[-1], args, output_root, [MULTI_PROCESSING])._replace(runner="multi-processing"))
    print(f"\n=== scale benchmark on {args.mnist_source}, quick budget ({' '.join(QUICK)}), output {output_root} ===")
    report(runs)
    print(f"plot: {plot(runs, os.path.join(output_root, 'scale.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
