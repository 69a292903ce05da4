"""The block a run ends with, read back from ML Metadata: what ran, the verdict, the push, and what to do next.

One summary for a local run (``local/run.py``) and for a preflight of the compiled job
(``cloud/preflight``), whichever layout their store holds (``inspection/store_layout.py``). The
verdict comes from what the run published as ``system.Metrics`` (``pipeline/metrics.py``); a model
that was not blessed gets the failed thresholds from the Evaluator's validation result.
"""

import os
import sys
from typing import List

from inspection import history, results
from inspection.records import plain_properties
from pipeline import evaluation


def python_command() -> str:
    """This interpreter as the summaries' next commands name it: relative when below the working directory."""
    relative = os.path.relpath(sys.executable)
    return sys.executable if relative.startswith(os.pardir) else relative


def pushed_line(properties: dict, not_pushed: str) -> str:
    """The summary's ``pushed`` line from a PushedModel's properties (empty: there was none), else ``not_pushed``."""
    if properties.get("pushed") == 1:
        return f"  pushed         version {properties['pushed_version']} to {properties['pushed_destination']}"
    return f"  pushed         {not_pushed}"


def verdict_lines(store, run_id: str, thresholds: str = "") -> List[str]:
    """Test accuracy against the baseline (and ``thresholds``, when given), and the blessing with its reason."""
    published = results.published_metrics(store, run_id)
    if evaluation.PUBLISHED_ACCURACY not in published:
        return ["  evaluated      nothing: the run published no system.Metrics"]
    split = results.evaluated_split(store, run_id)
    baseline = published.get(evaluation.PUBLISHED_BASELINE_ACCURACY)
    against = f"baseline {baseline:.4f}" if baseline is not None else "no baseline yet"
    count = int(published[evaluation.PUBLISHED_COUNT])
    accuracy = published[evaluation.PUBLISHED_ACCURACY]
    lines = [f"  {split} accuracy  {accuracy:.4f} on {count} {split} examples ({against}{thresholds})"]
    if published[evaluation.PUBLISHED_BLESSED] == 1:
        return [*lines, "  blessed        yes"]
    reasons = "; ".join(results.blessing(store, run_id)["failures"]) or "the Evaluator did not bless it"
    return [*lines, f"  blessed        no: {reasons}"]


def summary_lines(
    store, pipeline_name: str, seconds: float, run_id: str = "latest", kind: str = "Run", thresholds: str = ""
) -> List[str]:
    """The run's state, components and cache hits, its verdict and where its model went (``kind``: Run, Preflight)."""
    run = history.get_run(store, pipeline_name, run_id)
    pushed = history.output_artifacts(store, run.run_id, "PushedModel")
    properties = plain_properties(pushed[-1]) if pushed else {}
    return [
        f"{kind} {run.run_id} of {pipeline_name}: {run.state} in {seconds:.1f} s "
        f"({len(run.executions)} components, {len(run.cached)} from the cache)",
        *verdict_lines(store, run.run_id, thresholds),
        pushed_line(properties, "nothing: the model was not blessed; the served version stays"),
    ]
