"""What the validating components concluded in a run: data anomalies, the model's metrics, the blessing."""

import json

import ml_metadata as mlmd
from google.protobuf import text_format

from inspection import store_layout
from inspection.history import get_run, output_artifacts, run_artifact
from inspection.records import plain_properties
from inspection.store import LATEST, MetadataError, run_context
from pipeline import evaluation as evaluation_lib

# TFMA's name for the example count pipeline.dag.eval_config asks for.
EXAMPLE_COUNT = evaluation_lib.EXAMPLE_COUNT
# The Evaluator's exec property naming the splits it evaluates, and TFX's choice when it is unset.
EXAMPLE_SPLITS = "example_splits"
DEFAULT_EVALUATOR_SPLIT = "eval"
# The run's metrics as published for the KFP UI and Vertex AI Experiments (pipeline/metrics.py).
PUBLISHED_METRICS = "system.Metrics"
# Custom properties TFX or KFP add to every artifact: not metrics.
NOT_METRICS = ("tfx_version", "is_external", *store_layout.KFP_ARTIFACT_KEYS)


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
    splits = json.loads(store_layout.of(store).exec_property(execution, EXAMPLE_SPLITS) or "null")
    return ",".join(splits or [DEFAULT_EVALUATOR_SPLIT])


def evaluation_metrics(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The Evaluator's metrics in a run: ``{"split", "overall": {...}, "by_label": {label: {...}}, "baseline"}``.

    ``split`` names the examples they were computed on (``evaluated_split``). ``baseline`` has the
    same two keys for the baseline model it was compared with, or is None when there was none;
    the candidate's ``*_diff`` metrics are candidate minus baseline.
    """
    candidate, baseline = evaluation_lib.read_evaluation(_evaluation_uri(store, run_id))
    return {"split": evaluated_split(store, run_id), **candidate, "baseline": baseline}


def published_metrics(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The numbers a run published as ``system.Metrics`` (what the KFP UI and Vertex AI show), {} without any."""
    published = {}
    for artifact in output_artifacts(store, run_id, PUBLISHED_METRICS):
        values = plain_properties(artifact)
        published.update({k: v for k, v in values.items() if k not in NOT_METRICS and isinstance(v, (int, float))})
    return dict(sorted(published.items()))


def blessing(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The Evaluator's verdict in a run: blessed or not, the models compared, and any failed thresholds."""
    import tensorflow_model_analysis as tfma

    blessings = output_artifacts(store, run_id, "ModelBlessing")
    if not blessings:
        raise MetadataError(f"run {run_id!r} produced no model blessing")
    properties = plain_properties(blessings[0])
    validation = tfma.load_validation_result(_evaluation_uri(store, run_id))
    failures = [
        _describe_failure(slice_failures.slice_key, failure)
        for slice_failures in validation.metric_validations_per_slice
        for failure in slice_failures.failures
    ]
    # TFX stores the ids as ints; on KFP they are the models' runtime names and every number a double.
    return dict(
        blessed=properties.get("blessed") == 1,
        model_id=properties.get("current_model_id"),
        model_uri=properties.get("current_model"),
        baseline_model_id=properties.get("baseline_model_id"),
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
