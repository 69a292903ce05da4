"""What the validating components concluded in a run: data anomalies, the model's metrics, the blessing."""

import json

import ml_metadata as mlmd
from google.protobuf import text_format

from inspection.history import get_run, output_artifacts, run_artifact
from inspection.store import LATEST, MetadataError, run_context

# TFMA's name for the example count pipeline.dag.eval_config asks for.
EXAMPLE_COUNT = "example_count"
# The Evaluator's exec property naming the splits it evaluates, and TFX's choice when it is unset.
EXAMPLE_SPLITS = "example_splits"
DEFAULT_EVALUATOR_SPLIT = "eval"
# TFMA's model name for the baseline when the Evaluator compares two models.
TFMA_BASELINE = "baseline"


def anomalies(store: mlmd.MetadataStore, pipeline_name: str, run_id: str = LATEST) -> dict:
    """ExampleValidator's findings in a run (latest: the latest run that validated data), one line each."""
    from pipeline.gate import describe_anomalies  # TensorFlow, only for this query

    run = get_run(store, pipeline_name, run_id, with_output="ExampleAnomalies")
    artifact = run_artifact(store, pipeline_name, run.run_id, "ExampleAnomalies", "anomalies")
    lines = describe_anomalies(artifact.uri, artifact.properties.get("split_names", "[]"))
    return {"run_id": run.run_id, "state": run.state, "uri": artifact.uri, "anomalies": lines}


def _evaluation_uri(store: mlmd.MetadataStore, run_id: str) -> str:
    return _evaluation(store, run_id).uri


def _evaluation(store: mlmd.MetadataStore, run_id: str):
    evaluations = output_artifacts(store, run_id, "ModelEvaluation")
    if not evaluations:
        raise MetadataError(f"run {run_id!r} produced no model evaluation")
    return evaluations[0]


def evaluated_split(store: mlmd.MetadataStore, run_id: str) -> str:
    """The split(s) the Evaluator computed its metrics on in run ``run_id`` (its ``example_splits``), e.g. ``test``."""
    artifact = _evaluation(store, run_id)
    in_run = {e.id for e in store.get_executions_by_context(run_context(store, run_id).id)}
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact.id]) if e.execution_id in in_run]
    (execution,) = store.get_executions_by_id(producers[:1])
    splits = json.loads(execution.custom_properties[EXAMPLE_SPLITS].string_value or "null")
    return ",".join(splits or [DEFAULT_EVALUATOR_SPLIT])


def evaluation_metrics(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The Evaluator's metrics in a run: ``{"split", "overall": {...}, "by_label": {label: {...}}, "baseline"}``.

    ``split`` names the examples they were computed on (``evaluated_split``). ``baseline`` has the
    same two keys for the baseline model it was compared with, or is None when there was none;
    the candidate's ``*_diff`` metrics are candidate minus baseline.
    """
    import tensorflow_model_analysis as tfma

    uri = _evaluation_uri(store, run_id)
    result = tfma.load_eval_result(uri)
    metrics = _slice_metrics(result)
    has_baseline = any(spec.is_baseline for spec in result.config.model_specs)
    metrics["baseline"] = _slice_metrics(tfma.load_eval_result(uri, model_name=TFMA_BASELINE)) if has_baseline else None
    return {"split": evaluated_split(store, run_id), **metrics}


def _slice_metrics(result) -> dict:
    """``{"overall": {...}, "by_label": {label: {...}}}`` from a TFMA EvalResult sliced overall and by label."""
    metrics = {"overall": {}, "by_label": {}}
    for slice_key, by_output in result.slicing_metrics:
        values = {name: value.get("doubleValue") for name, value in by_output[""][""].items()}
        if not slice_key:
            metrics["overall"] = values
        else:
            metrics["by_label"][int(slice_key[0][1])] = values
    metrics["by_label"] = dict(sorted(metrics["by_label"].items()))
    return metrics


def blessing(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The Evaluator's verdict in a run: blessed or not, the models compared, and any failed thresholds."""
    import tensorflow_model_analysis as tfma

    blessings = output_artifacts(store, run_id, "ModelBlessing")
    if not blessings:
        raise MetadataError(f"run {run_id!r} produced no model blessing")
    properties = blessings[0].custom_properties
    validation = tfma.load_validation_result(_evaluation_uri(store, run_id))
    failures = [
        _describe_failure(slice_failures.slice_key, failure)
        for slice_failures in validation.metric_validations_per_slice
        for failure in slice_failures.failures
    ]
    return dict(
        blessed=properties["blessed"].int_value == 1 if "blessed" in properties else False,
        model_id=properties["current_model_id"].int_value if "current_model_id" in properties else None,
        model_uri=properties["current_model"].string_value if "current_model" in properties else None,
        baseline_model_id=properties["baseline_model_id"].int_value if "baseline_model_id" in properties else None,
        validation_ok=validation.validation_ok,
        failures=failures,
    )


def _describe_failure(slice_key, failure) -> str:
    """One failed threshold, e.g. ``label=3: sparse_categorical_accuracy_diff = -0.0200 fails {...}``."""
    where = ", ".join(f"{k.column}={getattr(k, k.WhichOneof('kind'))}" for k in slice_key.single_slice_keys)
    name = failure.metric_key.name + ("_diff" if failure.metric_key.is_diff else "")
    threshold = text_format.MessageToString(failure.metric_threshold, as_one_line=True)
    return f"{where or 'overall'}: {name} = {failure.metric_value.double_value.value:.4f} fails {{{threshold}}}"


def compare_runs(store: mlmd.MetadataStore, run_a: str, run_b: str) -> dict:
    """Evaluation metrics of two runs side by side: ``{metric: {"a", "b", "delta"}}`` overall and by label."""
    a, b = evaluation_metrics(store, run_a), evaluation_metrics(store, run_b)
    labels = sorted(set(a["by_label"]) | set(b["by_label"]))
    return dict(
        runs=[run_a, run_b],
        blessings=[blessing(store, run_a), blessing(store, run_b)],
        overall=_compare(a["overall"], b["overall"]),
        by_label={label: _compare(a["by_label"].get(label, {}), b["by_label"].get(label, {})) for label in labels},
    )


def _compare(a: dict, b: dict) -> dict:
    """``{metric: {"a", "b", "delta"}}`` for the plain metrics (not ``*_diff``) of either side."""
    names = sorted(n for n in set(a) | set(b) if not n.endswith("_diff"))
    rows = {}
    for name in names:
        value_a, value_b = a.get(name), b.get(name)
        delta = value_b - value_a if value_a is not None and value_b is not None else None
        rows[name] = {"a": value_a, "b": value_b, "delta": delta}
    return rows
