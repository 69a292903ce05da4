"""The block a local run ends with: what happened, read back from ML Metadata, and what to do next."""

import os
import shlex
from typing import List, Sequence

from console.summary import pushed_line, python_command
from inspection import history, results
from inspection.records import plain_properties
from inspection.store import open_store
from models.features import ACCURACY
from pipeline.config import PipelineConfig


def _evaluation_lines(config: PipelineConfig, store, run_id: str) -> List[str]:
    """Test accuracy against the baseline and the threshold, and the blessing with its reason."""
    metrics = results.evaluation_metrics(store, run_id)
    verdict = results.blessing(store, run_id)
    accuracy, count = metrics["overall"].get(ACCURACY), metrics["overall"].get(results.EXAMPLE_COUNT)
    baseline = (metrics["baseline"] or {}).get("overall", {}).get(ACCURACY)
    against = f"baseline {baseline:.4f}" if baseline is not None else "no baseline yet"
    lines = [
        f"  {metrics['split']} accuracy  {accuracy:.4f} on {int(count or 0)} {metrics['split']} examples"
        f" ({against}; threshold {config.accuracy_lower_bound:g}, tolerance {config.regression_tolerance:g})"
    ]
    if verdict["blessed"]:
        lines.append("  blessed        yes")
    else:
        reasons = "; ".join(verdict["failures"]) or "the Evaluator did not bless it"
        lines.append(f"  blessed        no: {reasons}")
    return lines


def summary_lines(config: PipelineConfig, flags: Sequence[str], log_path: str, seconds: float) -> List[str]:
    """The summary of the pipeline's latest run, with the commands that inspect, serve and chart it."""
    store = open_store(config.metadata_path)
    run = history.latest_run(store, config.pipeline_name)
    lines = [
        f"Run {run.run_id} of {config.pipeline_name}: {run.state} in {seconds:.1f} s "
        f"({len(run.executions)} components, {len(run.cached)} from the cache)",
        *_evaluation_lines(config, store, run.run_id),
    ]
    pushed = history.output_artifacts(store, run.run_id, "PushedModel")
    properties = plain_properties(pushed[-1]) if pushed else {}
    lines.append(pushed_line(properties, "nothing: the model was not blessed; the served version stays"))
    lines.append(f"  log            {log_path}")
    python, pipeline_flags = python_command(), shlex.join(flags)
    tensorboard = os.path.join(os.path.dirname(python), "tensorboard")
    lines += [
        "Next:",
        f"  {python} -m inspection metrics {pipeline_flags}".rstrip(),
        f"  {python} -m serving.server --serving-dir {config.serving_dir} --model-name {config.pipeline_name}",
        f"  {tensorboard} --logdir {config.pipeline_root}",
    ]
    return lines
