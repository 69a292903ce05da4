"""Benchmark (prints figures, asserts nothing): the pipeline on MNIST-10k, cold and cached.

    python -m pipeline.benchmark --mnist-source ../shared/datasets/mnist-10k [pipeline flags]

Each run is a fresh process, so the wall times include the ~25 s of importing TFX that a user
pays too. The output root is a new temporary folder unless --output-root is given.
"""

import argparse
import subprocess
import sys
import tempfile
import time

from data import prepare
from pipeline import config as config_lib
from pipeline import metadata as mlmd_lib


def timed_run(flags: list) -> float:
    """Runs the local pipeline in a new process; returns its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.local_runner", *flags], check=True)
    return time.perf_counter() - start


def setup(argv, description: str, prefix: str) -> tuple:
    """Parses a benchmark's flags and prepares MNIST: returns (args, pipeline flags, config, output root).

    Flags the benchmark does not know are the pipeline's; the output root is a new temporary
    folder named ``prefix...`` unless --output-root is given.
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist-source", required=True, help="folder of MNIST IDX files")
    parser.add_argument("--output-root", default="", help="default: a new temporary folder")
    args, pipeline_flags = parser.parse_known_args(argv)
    output_root = args.output_root or tempfile.mkdtemp(prefix=prefix)
    flags = ["--dataset", "mnist", "--output-root", output_root, *pipeline_flags]
    config = config_lib.parse_args(flags)
    prepare.prepare("mnist", config.data_root, source=args.mnist_source)
    return args, flags, config, output_root


def main(argv=None) -> int:
    """Prepares MNIST-10k, runs cold then cached, and prints the figures."""
    args, flags, config, output_root = setup(argv, __doc__, "tfx-bench-")

    cold = timed_run(flags)
    cached = timed_run(flags)

    store = mlmd_lib.open_store(config.metadata_path)
    first, second = mlmd_lib.runs(store, config.pipeline_name)[-2:]
    metrics = mlmd_lib.evaluation_metrics(store, first.run_id)
    print(f"\n=== benchmark: {config.pipeline_name} on {args.mnist_source} (output {output_root}) ===")
    print(f"cold run wall time          {cold:8.1f} s")
    for execution in sorted(first.executions, key=lambda e: e.start_ms):
        print(f"  {execution.node:32s}{execution.seconds:8.1f} s  {execution.state}")
    cached_states = sorted({e.state for e in second.executions})
    print(f"cached re-run wall time     {cached:8.1f} s  (states: {', '.join(cached_states)})")
    overall = metrics["overall"]
    print(f"eval accuracy               {overall[mlmd_lib.ACCURACY]:8.4f}"
          f"  on {int(overall[mlmd_lib.EXAMPLE_COUNT])} eval examples")  # fmt: skip
    by_label = ", ".join(f"{label}:{m[mlmd_lib.ACCURACY]:.3f}" for label, m in metrics["by_label"].items())
    print(f"per-class accuracy          {by_label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
