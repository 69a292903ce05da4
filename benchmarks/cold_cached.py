"""Benchmark (prints figures, asserts nothing): the pipeline on MNIST-10k, cold and cached.

    python -m benchmarks.cold_cached --mnist-source ../shared/datasets/mnist-10k [pipeline flags]

Each run is a fresh process, so the wall times include the ~25 s of importing TFX that a user
pays too. The output root is a new temporary folder unless --output-root is given.
"""

import sys

from benchmarks.common import setup, timed_run
from inspection import history, results
from inspection.store import open_store
from models.features import ACCURACY


def main(argv=None) -> int:
    """Prepares MNIST-10k, runs cold then cached, and prints the figures."""
    args, flags, config, output_root = setup(argv, __doc__, "tfx-bench-")

    cold = timed_run(flags)
    cached = timed_run(flags)

    store = open_store(config.metadata_path)
    first, second = history.runs(store, config.pipeline_name)[-2:]
    metrics = results.evaluation_metrics(store, first.run_id)
    print(f"\n=== benchmark: {config.pipeline_name} on {args.mnist_source} (output {output_root}) ===")
    print(f"cold run wall time          {cold:8.1f} s")
    for execution in sorted(first.executions, key=lambda e: e.start_ms):
        print(f"  {execution.node:32s}{execution.seconds:8.1f} s  {execution.state}")
    cached_states = sorted({e.state for e in second.executions})
    print(f"cached re-run wall time     {cached:8.1f} s  (states: {', '.join(cached_states)})")
    overall = metrics["overall"]
    print(f"eval accuracy               {overall[ACCURACY]:8.4f}"
          f"  on {int(overall[results.EXAMPLE_COUNT])} eval examples")  # fmt: skip
    by_label = ", ".join(f"{label}:{m[ACCURACY]:.3f}" for label, m in metrics["by_label"].items())
    print(f"per-class accuracy          {by_label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
