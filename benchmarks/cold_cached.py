"""Benchmark (prints figures, asserts nothing): the pipeline on MNIST-10k, cold and then fully cached.

    python -m benchmarks.cold_cached --mnist-source ../shared/datasets/mnist-10k [pipeline flags]

Each run is a fresh process, so the wall times include importing TFX, as a user pays it. It
prints where the cold run's time goes: start-up and imports (process start to the first
component), each component (from ML Metadata), the Tuner's trials and the Trainer's epochs
with their examples/second, and the time after the last component; then the cached re-run's
wall time and the test accuracy. The output root is a new temporary folder unless given.
"""

import glob
import os
import sys

from benchmarks.common import evaluation, setup, timed_run
from inspection import history, results
from inspection.store import open_store
from models.callbacks import TRIALS_FILE, describe_epoch, describe_trial, read_records
from models.features import ACCURACY


def print_breakdown(config, run, timed) -> None:
    """Start-up, every component, inside Tuner and Trainer, and the tail of one run."""
    print(f"  start-up and imports            {run.start_ms / 1000 - timed.started:8.1f} s")
    for execution in run.executions:
        print(f"  {execution.node:32s}{execution.seconds:8.1f} s  {execution.state}")
        if execution.node == "Tuner":
            print_trials(config)
        if execution.node == "Trainer":
            print_epochs(open_store(config.metadata_path), run.run_id)
    print(f"  after the last component        {timed.ended - run.end_ms / 1000:8.1f} s")


def print_trials(config) -> None:
    """The newest search's trials (the Tuner's TensorBoard folder holds one per search)."""
    searches = sorted(glob.glob(os.path.join(config.pipeline_root, "Tuner", "tensorboard", "*")))
    if not searches:
        return
    epochs = read_records(searches[-1])
    for trial in read_records(searches[-1], TRIALS_FILE):
        print(f"      {describe_trial(trial)}")
    if epochs:
        rate = sum(e["examples_per_second"] for e in epochs) / len(epochs)
        print(f"      {len(epochs)} trial epochs at {rate:.0f} examples/second on average")


def print_epochs(store, run_id: str) -> None:
    """The Trainer's epochs with their examples/second (its ModelRun folder)."""
    for model_run in history.output_artifacts(store, run_id, "ModelRun"):
        for epoch in read_records(model_run.uri):
            print(f"      {describe_epoch(epoch)}")


def main(argv=None) -> int:
    """Prepares MNIST-10k, runs cold then cached, and prints the figures."""
    args, flags, config, output_root = setup(argv, "benchmarks.cold_cached", __doc__, "tfx-bench-")
    cold = timed_run(flags)
    cached = timed_run(flags)

    store = open_store(config.metadata_path)
    first, second = history.runs(store, config.pipeline_name)[-2:]
    accuracy, split, count = evaluation(config.metadata_path, config.pipeline_name, first.run_id)
    metrics = results.evaluation_metrics(store, first.run_id)
    print(f"\n=== benchmark: {config.pipeline_name} on {args.mnist_source} (output {output_root}) ===")
    print(f"cold run wall time                {cold.wall:8.1f} s")
    print_breakdown(config, first, cold)
    cached_states = sorted({e.state for e in second.executions})
    print(f"cached re-run wall time           {cached.wall:8.1f} s  (states: {', '.join(cached_states)})")
    print(f"  start-up and imports            {second.start_ms / 1000 - cached.started:8.1f} s")
    print(f"{split} accuracy                     {accuracy:8.4f}  on {count} {split} examples")
    by_label = ", ".join(f"{label}:{m[ACCURACY]:.3f}" for label, m in metrics["by_label"].items())
    print(f"per-class {split} accuracy        {by_label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
