"""What a run concluded, for the run, compare and lineage pages: the evaluation, the data, the lineage.

The evaluation comes from the ``system.Metrics`` and ``system.ClassificationMetrics`` the run
published (pipeline/metrics.py): plain custom properties, no TFMA file to parse. Only a failed
blessing reads TFMA's validation result, for the thresholds that failed.
"""

import re
from typing import Dict, List, Sequence

import ml_metadata as mlmd

from inspection import results
from inspection.lineage import lineage, pushed_model_lineage
from pipeline import evaluation as evaluation_lib
from ui import charts
from ui.run_page import RunData

CLASS_KEY = re.compile(r"accuracy_class_(\d+)")


def _properties(data: RunData, type_name: str) -> dict:
    artifact = data.output(type_name)
    return artifact.properties if artifact is not None else {}


def per_class(published: dict, prefix: str = "") -> Dict[int, float]:
    """``{label: accuracy}`` from published metrics (``prefix`` ``baseline_`` for the baseline's)."""
    found = {}
    for name, value in published.items():
        match = CLASS_KEY.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
        if match and isinstance(value, (int, float)):
            found[int(match.group(1))] = float(value)
    return dict(sorted(found.items()))


def confusion(data: RunData) -> dict:
    """The confusion matrix the run published, as a heat map ({} when it published none)."""
    matrix = _properties(data, "system.ClassificationMetrics").get(evaluation_lib.CONFUSION_MATRIX)
    if not matrix:
        return {}
    labels = [spec["displayName"] for spec in matrix["annotationSpecs"]]
    return charts.heat_map([row["row"] for row in matrix["rows"]], labels)


def evaluation(store: mlmd.MetadataStore, data: RunData) -> dict:
    """Overall and per-class test accuracy, the baseline's, the confusion matrix and the blessing with its reason."""
    published = _properties(data, "system.Metrics")
    blessing = _properties(data, "ModelBlessing")
    if not published and not blessing:
        return {}
    classes = per_class(published)
    baseline = per_class(published, "baseline_")
    view = {
        "accuracy": published.get(evaluation_lib.PUBLISHED_ACCURACY),
        "baseline_accuracy": published.get(evaluation_lib.PUBLISHED_BASELINE_ACCURACY),
        "examples": published.get(evaluation_lib.PUBLISHED_COUNT),
        "classes": [(label, value, baseline.get(label)) for label, value in classes.items()],
        "chart": charts.bar_chart([(str(k), v) for k, v in classes.items()], top=1.0),
        "matrix": confusion(data),
        "blessed": blessing.get("blessed") == 1,
        "failures": [],
    }
    if blessing and not view["blessed"]:
        view["failures"] = results.blessing(store, data.run.run_id)["failures"] or [
            "not blessed, and TFMA recorded no failed threshold"
        ]
    return view


def data_summary(data: RunData) -> dict:
    """Examples and label counts per split (StatisticsGen's statistics) and ExampleValidator's anomalies."""
    from tfx.types import artifact_utils, standard_artifacts

    from pipeline import gate

    statistics = data.output("ExampleStatistics")
    if statistics is None:
        return {}
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri, artifact.split_names = statistics.uri, statistics.properties.get("split_names", "[]")
    splits = {}
    for split in artifact_utils.decode_split_names(artifact.split_names):
        examples, counts = gate.label_counts(artifact, split)
        splits[split] = {
            "examples": examples,
            "counts": dict(sorted(counts.items())),
            "chart": charts.bar_chart([(str(k), v) for k, v in sorted(counts.items())]),
        }
    anomalies = data.output("ExampleAnomalies")
    found = gate.describe_anomalies(anomalies.uri, anomalies.properties.get("split_names", "[]")) if anomalies else []
    return {"splits": splits, "anomalies": found, "validated": anomalies is not None}


def compare(store: mlmd.MetadataStore, runs: Sequence[RunData]) -> dict:
    """Settings that differ, metrics with per-class deltas against the first run, confusion matrices side by side."""
    names = sorted({name for data in runs for name in data.parameters})
    differing = [
        (name, [data.parameters.get(name) for data in runs])
        for name in names
        if len({repr(data.parameters.get(name)) for data in runs}) > 1
    ]
    published = [_properties(data, "system.Metrics") for data in runs]
    by_class = [per_class(values) for values in published]
    classes = sorted({label for values in by_class for label in values})
    rows = [("accuracy", [values.get(evaluation_lib.PUBLISHED_ACCURACY) for values in published])]
    rows += [(f"class {label}", [values.get(label) for values in by_class]) for label in classes]
    return {
        "differing": differing,
        "metrics": [(name, values, _deltas(values)) for name, values in rows],
        "matrices": [confusion(data) for data in runs],
        "blessed": [_properties(data, "ModelBlessing").get("blessed") == 1 for data in runs],
    }


def _deltas(values: List) -> List:
    """Each value minus the first (None where either is missing)."""
    first = values[0]
    return [None if first is None or value is None else value - first for value in values]


def lineage_view(store: mlmd.MetadataStore, pipeline_name: str, data: RunData) -> dict:
    """The pushed model's lineage (else the trained model's), as a graph and the artifacts' table."""
    pushed = data.output("PushedModel")
    if pushed is not None and pushed.properties.get("pushed") == 1:
        found = pushed_model_lineage(store, pipeline_name, data.run.run_id)
    elif (model := data.output("Model", "Trainer")) is not None:
        found = lineage(store, model.id)
    else:
        return {}
    labels, fills = {}, {}
    successors = found.successors()
    for node in successors:
        kind, number = node[0], int(node[1:])
        if kind == "e":
            execution = found.executions[number]
            labels[node], fills[node] = [execution.node, f"execution {execution.id}"], "#ffe0b2"
        else:
            artifact = found.artifacts[number]
            labels[node] = [artifact.label, artifact.key or "baseline"]
            fills[node] = "#c8e6c9" if number == found.target.id else "#bbdefb"
    return {
        "target": found.target,
        "graph": charts.graph(successors, labels, fills),
        "artifacts": [a for _, a in sorted(found.artifacts.items())],
        "executions": found.ordered_executions(),
    }
