"""The one place that queries ML Metadata: runs, executions, artifacts, lineage and evaluations.

Opens a local SQLite store read-only, so inspecting never creates or changes a store, or the
Kubeflow metadata gRPC service by host and port. The rest of the project (the CLI in
``pipeline.inspect``, the notebooks, the benchmark, the tests) queries MLMD only through it.

With caching, a cached execution records the original artifacts as its outputs: a run's
artifacts may have been produced by an earlier run, and lineage follows them to the execution
that really produced them.
"""

import dataclasses
import datetime
import os
from typing import Dict, List, Optional

import ml_metadata as mlmd
from google.protobuf import json_format, text_format
from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
# TFMA's names for the metrics pipeline.eval_config computes.
ACCURACY = "sparse_categorical_accuracy"
EXAMPLE_COUNT = "example_count"
NODE_CONTEXT = "node"
LATEST = "latest"
# The Kubeflow Pipelines metadata service listens here (service metadata-grpc-service, namespace kubeflow).
GRPC_PORT = 8080
# The Evaluator's input holding the previously blessed model; lineage stops there (see ``lineage``).
BASELINE_KEY = "baseline_model"
# TFMA's model name for the baseline when the Evaluator compares two models.
TFMA_BASELINE = "baseline"
State = metadata_store_pb2.Execution.State
Event = metadata_store_pb2.Event
StoreError = mlmd_errors.StatusError  # what MLMD itself raises on a failed query (e.g. an unreachable server)


class MetadataError(RuntimeError):
    """The store is missing, unreadable, or has no such pipeline, run or artifact."""


def _time(ms: int) -> str:
    """Local wall-clock time of a millisecond timestamp, to the second."""
    return datetime.datetime.fromtimestamp(ms / 1000.0).isoformat(sep=" ", timespec="seconds")


@dataclasses.dataclass(frozen=True)
class ExecutionRecord:
    """One component execution: its node id, final state and wall time (CACHED means a cache hit)."""

    node: str
    state: str
    start_ms: int
    end_ms: int
    id: int
    type_name: str
    run_id: str

    @property
    def seconds(self) -> float:
        """Wall time from the execution's creation to its last update."""
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def cached(self) -> bool:
        """Whether the execution reused an earlier execution's outputs instead of running."""
        return self.state == "CACHED"

    def to_dict(self) -> dict:
        """Plain values for JSON, with readable times and the duration."""
        return dict(
            dataclasses.asdict(self),
            started=_time(self.start_ms),
            ended=_time(self.end_ms),
            seconds=self.seconds,
            cached=self.cached,
        )


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run (a ``pipeline_run`` context) and its executions, in start order."""

    run_id: str
    created_ms: int
    executions: List[ExecutionRecord]

    def states(self) -> dict:
        """Maps node id to the final state of its execution in this run."""
        return {e.node: e.state for e in self.executions}

    @property
    def state(self) -> str:
        """FAILED if any execution failed, RUNNING if any has not finished (or was killed), else COMPLETE."""
        states = {e.state for e in self.executions}
        if "FAILED" in states:
            return "FAILED"
        if states & {"NEW", "RUNNING", "UNKNOWN"}:
            return "RUNNING"
        return "COMPLETE"

    @property
    def start_ms(self) -> int:
        """When the run's first execution started."""
        return min(e.start_ms for e in self.executions)

    @property
    def end_ms(self) -> int:
        """When the run's last execution was last updated."""
        return max(e.end_ms for e in self.executions)

    @property
    def seconds(self) -> float:
        """Wall time from the first execution's start to the last one's end."""
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def cached(self) -> List[str]:
        """The nodes whose execution in this run was a cache hit."""
        return [e.node for e in self.executions if e.cached]

    def to_dict(self, with_executions: bool = False) -> dict:
        """Plain values for JSON: id, state, times, duration, cache hits (and the executions)."""
        record = dict(
            run_id=self.run_id,
            state=self.state,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            started=_time(self.start_ms),
            ended=_time(self.end_ms),
            seconds=self.seconds,
            executions=len(self.executions),
            cached=self.cached,
        )
        if with_executions:
            record["executions"] = [e.to_dict() for e in self.executions]
        return record


@dataclasses.dataclass(frozen=True)
class ArtifactRecord:
    """One artifact and the output event that produced it: ``node``'s execution, output ``key``.

    ``cached`` says that execution was a cache hit, so the artifact comes from an earlier run.
    """

    id: int
    type_name: str
    uri: str
    state: str
    node: str
    key: str
    execution_id: int
    cached: bool
    properties: dict

    @property
    def label(self) -> str:
        """Short name such as ``Examples#1``."""
        return f"{self.type_name}#{self.id}"

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class LineageEdge:
    """An event: ``artifact_id`` went into (``input``) or came out of (``output``) ``execution_id``."""

    artifact_id: int
    execution_id: int
    key: str
    direction: str


@dataclasses.dataclass(frozen=True)
class Lineage:
    """The artifacts and executions an artifact came from, walking events backwards from it."""

    target: ArtifactRecord
    artifacts: Dict[int, ArtifactRecord]
    executions: Dict[int, ExecutionRecord]
    edges: List[LineageEdge]

    def of_type(self, type_name: str) -> List[ArtifactRecord]:
        """The lineage's artifacts of one type (e.g. ``Examples``), by id."""
        return [a for _, a in sorted(self.artifacts.items()) if a.type_name == type_name]

    def inputs(self, execution_id: int) -> Dict[str, List[ArtifactRecord]]:
        """Maps each input key of an execution in the lineage to its artifacts."""
        return self._side(execution_id, "input")

    def outputs(self, execution_id: int) -> Dict[str, List[ArtifactRecord]]:
        """Maps each output key of an execution in the lineage to its artifacts (those in the lineage)."""
        return self._side(execution_id, "output")

    def _side(self, execution_id: int, direction: str) -> Dict[str, List[ArtifactRecord]]:
        side = {}
        for edge in self.edges:
            if edge.execution_id == execution_id and edge.direction == direction:
                side.setdefault(edge.key, []).append(self.artifacts[edge.artifact_id])
        return side

    def ordered_executions(self) -> List[ExecutionRecord]:
        """The executions in the order they ran (every producer before its consumers)."""
        return sorted(self.executions.values(), key=lambda e: (e.start_ms, e.id))

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return dict(
            target=self.target.to_dict(),
            artifacts=[a.to_dict() for _, a in sorted(self.artifacts.items())],
            executions=[e.to_dict() for e in self.ordered_executions()],
            edges=[dataclasses.asdict(e) for e in self.edges],
        )


def grpc_config(host: str, port: int = GRPC_PORT) -> metadata_store_pb2.MetadataStoreClientConfig:
    """Client configuration for a metadata gRPC service, e.g. Kubeflow's ``metadata-grpc-service``."""
    return metadata_store_pb2.MetadataStoreClientConfig(host=host, port=port)


def open_store(sqlite_path: str = "", grpc_host: str = "", grpc_port: int = GRPC_PORT) -> mlmd.MetadataStore:
    """Opens an existing SQLite store read-only, or, given ``grpc_host``, a metadata gRPC service.

    A gRPC connection is made lazily: an unreachable service shows up as ``StoreError`` on the first query.
    """
    if grpc_host:
        return mlmd.MetadataStore(grpc_config(grpc_host, grpc_port))
    if not os.path.isfile(sqlite_path):
        raise MetadataError(f"{sqlite_path}: no metadata store there (has the pipeline run yet?)")
    if os.path.getsize(sqlite_path) == 0:
        raise MetadataError(f"{sqlite_path}: empty file, not a metadata store")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        return mlmd.MetadataStore(config)
    except Exception as err:  # noqa: BLE001  (MLMD raises its own status errors)
        reason = str(err).split(" query:", 1)[0]  # MLMD appends the failing SQL statement
        raise MetadataError(f"{sqlite_path}: not a readable metadata store ({reason})") from err


def _type_names(types) -> Dict[int, str]:
    return {t.id: t.name for t in types}


def _contexts_of_type(store: mlmd.MetadataStore, type_name: str) -> list:
    """Contexts of one type; none (rather than an error) when the type was never registered."""
    try:
        return store.get_contexts_by_type(type_name)
    except mlmd_errors.NotFoundError:
        return []


def pipelines(store: mlmd.MetadataStore) -> List[str]:
    """Names of the pipelines that have run against this store."""
    return sorted(c.name for c in _contexts_of_type(store, PIPELINE_CONTEXT))


def _execution_records(store: mlmd.MetadataStore, executions: list) -> List[tuple]:
    """(pipeline name, ExecutionRecord) for each execution, from its pipeline, run and node contexts."""
    context_types = _type_names(store.get_context_types())
    execution_types = _type_names(store.get_execution_types())
    records = []
    for execution in executions:
        names = {}
        for context in store.get_contexts_by_execution(execution.id):
            names.setdefault(context_types[context.type_id], context.name)
        pipeline = names.get(PIPELINE_CONTEXT, "")
        node = names.get(NODE_CONTEXT, "")
        if pipeline and node.startswith(pipeline + "."):
            node = node[len(pipeline) + 1 :]
        record = ExecutionRecord(
            node=node,
            state=State.Name(execution.last_known_state),
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch,
            id=execution.id,
            type_name=execution_types.get(execution.type_id, ""),
            run_id=names.get(RUN_CONTEXT, ""),
        )
        records.append((pipeline, record))
    return records


def runs(store: mlmd.MetadataStore, pipeline_name: str) -> List[RunRecord]:
    """The pipeline's runs, oldest first, with each run's executions in start order."""
    contexts = _contexts_of_type(store, RUN_CONTEXT)
    executions = [execution for context in contexts for execution in store.get_executions_by_context(context.id)]
    by_run: Dict[str, list] = {}
    for pipeline, record in _execution_records(store, executions):  # one pass: types are fetched once
        if pipeline == pipeline_name:  # another pipeline may share the store
            by_run.setdefault(record.run_id, []).append(record)
    records = [
        RunRecord(
            context.name,
            context.create_time_since_epoch,
            sorted(by_run[context.name], key=lambda e: (e.start_ms, e.id)),
        )
        for context in contexts
        if context.name in by_run
    ]
    return sorted(records, key=lambda r: r.created_ms)


def latest_run(store: mlmd.MetadataStore, pipeline_name: str) -> RunRecord:
    """The pipeline's most recent run."""
    return get_run(store, pipeline_name, LATEST)


def get_run(store: mlmd.MetadataStore, pipeline_name: str, run_id: str = LATEST, with_output: str = "") -> RunRecord:
    """The run ``run_id`` of the pipeline, or for ``"latest"`` its most recent run.

    Given ``with_output`` (an artifact type such as ``ModelEvaluation``), ``"latest"`` is the most
    recent run that output one: runs stopped by the anomalies gate evaluated nothing.
    """
    records = runs(store, pipeline_name)
    if not records:
        others = pipelines(store)
        hint = f" (pipelines there: {', '.join(others)})" if others else ""
        raise MetadataError(f"no runs of pipeline {pipeline_name!r} in this store{hint}")
    if run_id == LATEST:
        if with_output:
            records = [r for r in records if output_artifacts(store, r.run_id, with_output)]
            if not records:
                raise MetadataError(f"no run of pipeline {pipeline_name!r} has a {with_output} artifact")
        return records[-1]
    for record in records:
        if record.run_id == run_id:
            return record
    raise MetadataError(f"no run {run_id!r} of pipeline {pipeline_name!r} (see the runs command for the run ids)")


def _run_context(store: mlmd.MetadataStore, run_id: str):
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        raise MetadataError(f"no run {run_id!r} in this store")
    return context


def _artifact_type_id(store: mlmd.MetadataStore, type_name: str) -> Optional[int]:
    """The id of an artifact type, or None when no artifact of it was ever recorded."""
    try:
        return store.get_artifact_type(type_name).id
    except mlmd_errors.NotFoundError:
        return None


def output_artifacts(store: mlmd.MetadataStore, run_id: str, type_name: str) -> list:
    """The artifacts of type ``type_name`` (e.g. ``ModelBlessing``) produced in run ``run_id``, by id."""
    context = _run_context(store, run_id)
    type_id = _artifact_type_id(store, type_name)
    if type_id is None:
        return []
    executions = [e.id for e in store.get_executions_by_context(context.id)]
    outputs = {
        event.artifact_id for event in store.get_events_by_execution_ids(executions) if event.type == Event.OUTPUT
    }
    return [a for a in store.get_artifacts_by_id(sorted(outputs)) if a.type_id == type_id]


def _value(value: metadata_store_pb2.Value):
    """A property value as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind in ("struct_value", "proto_value"):
        return json_format.MessageToDict(getattr(value, kind))
    return getattr(value, kind) if kind else None


def _artifact_record(artifact, type_name: str, key: str = "", execution: Optional[ExecutionRecord] = None):
    """An ArtifactRecord; ``execution`` is the one whose output event ``key`` it is (None: not walked to)."""
    properties = {**artifact.properties, **artifact.custom_properties}
    return ArtifactRecord(
        id=artifact.id,
        type_name=type_name,
        uri=artifact.uri,
        state=metadata_store_pb2.Artifact.State.Name(artifact.state),
        node=execution.node if execution else "",
        key=key,
        execution_id=execution.id if execution else 0,
        cached=execution.cached if execution else False,
        properties={name: _value(v) for name, v in sorted(properties.items())},
    )


def _artifact_records(store: mlmd.MetadataStore, events: list, executions: Dict[int, ExecutionRecord]) -> list:
    """An ArtifactRecord per output event, described by the execution that emitted it."""
    artifact_types = _type_names(store.get_artifact_types())
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    return [
        _artifact_record(
            artifacts[event.artifact_id],
            artifact_types.get(artifacts[event.artifact_id].type_id, ""),
            event.path.steps[0].key if event.path.steps else "",
            executions[event.execution_id],
        )
        for event in events
    ]


def run_artifacts(store: mlmd.MetadataStore, pipeline_name: str, run_id: str = LATEST) -> List[ArtifactRecord]:
    """Every artifact output in a run, in execution order; cached executions contribute earlier runs' artifacts."""
    run = get_run(store, pipeline_name, run_id)
    executions = {e.id: e for e in run.executions}
    order = {e.id: i for i, e in enumerate(run.executions)}
    events = [e for e in store.get_events_by_execution_ids(list(executions)) if e.type == Event.OUTPUT]
    records = _artifact_records(store, events, executions)
    return sorted(records, key=lambda a: (order[a.execution_id], a.key, a.id))


def run_artifact(store: mlmd.MetadataStore, pipeline_name: str, run_id: str, type_name: str, key: str):
    """The ``type_name`` artifact a run output under ``key`` (e.g. ``ExampleStatistics``, ``statistics``)."""
    for artifact in run_artifacts(store, pipeline_name, run_id):
        if artifact.type_name == type_name and artifact.key == key:
            return artifact
    raise MetadataError(f"run {run_id!r} has no {type_name} output {key!r}")


def anomalies(store: mlmd.MetadataStore, pipeline_name: str, run_id: str = LATEST) -> dict:
    """ExampleValidator's findings in a run (latest: the latest run that validated data), one line each."""
    from pipeline.gate import describe_anomalies  # TensorFlow, only for this query

    run = get_run(store, pipeline_name, run_id, with_output="ExampleAnomalies")
    artifact = run_artifact(store, pipeline_name, run.run_id, "ExampleAnomalies", "anomalies")
    lines = describe_anomalies(artifact.uri, artifact.properties.get("split_names", "[]"))
    return {"run_id": run.run_id, "state": run.state, "uri": artifact.uri, "anomalies": lines}


def execution_inputs(store: mlmd.MetadataStore, run_id: str, node: str) -> dict:
    """Maps each input key of ``node``'s execution in run ``run_id`` to its artifacts."""
    context = _run_context(store, run_id)
    node_type = store.get_context_type(NODE_CONTEXT)
    for execution in store.get_executions_by_context(context.id):
        nodes = {c.name.rsplit(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                 if c.type_id == node_type.id}  # fmt: skip
        if node not in nodes:
            continue
        inputs = {}
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == Event.INPUT:
                key = event.path.steps[0].key
                inputs.setdefault(key, []).extend(store.get_artifacts_by_id([event.artifact_id]))
        return inputs
    raise MetadataError(f"node {node!r} did not execute in run {run_id!r}")


def _original_producer(store: mlmd.MetadataStore, artifact_id: int) -> Optional[tuple]:
    """(output event, execution) of the execution that really produced an artifact, or None for an import.

    Every cache hit re-records the original artifact as its output, so the producer is the
    earliest execution that was not itself a cache hit.
    """
    events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == Event.OUTPUT]
    if not events:
        return None
    executions = {e.id: e for e in store.get_executions_by_id([e.execution_id for e in events])}
    ran = [e for e in events if executions[e.execution_id].last_known_state != State.CACHED] or events
    event = min(ran, key=lambda e: (executions[e.execution_id].create_time_since_epoch, e.execution_id))
    return event, executions[event.execution_id]


def lineage(store: mlmd.MetadataStore, artifact_id: int, follow_baseline: bool = False) -> Lineage:
    """Everything artifact ``artifact_id`` came from: producers, their inputs, and so on back to the sources.

    The Evaluator's baseline model is kept as an input but not followed unless ``follow_baseline``:
    it decided the blessing, not what the model is, and following it pulls in the previous run's lineage.
    """
    if not store.get_artifacts_by_id([artifact_id]):
        raise MetadataError(f"no artifact {artifact_id} in this store")
    output_events, executions, edges = {}, {}, []
    pending, seen = [artifact_id], {artifact_id}
    while pending:
        current = pending.pop()
        produced = _original_producer(store, current)
        if produced is None:
            continue  # imported from outside the pipeline, or a leaf baseline
        event, execution = produced
        output_events[current] = event
        edges.append(LineageEdge(current, execution.id, event.path.steps[0].key, "output"))
        if execution.id in executions:
            continue
        executions[execution.id] = execution
        for input_event in store.get_events_by_execution_ids([execution.id]):
            if input_event.type != Event.INPUT:
                continue
            key = input_event.path.steps[0].key
            edges.append(LineageEdge(input_event.artifact_id, execution.id, key, "input"))
            if input_event.artifact_id not in seen:
                seen.add(input_event.artifact_id)
                if follow_baseline or key != BASELINE_KEY:
                    pending.append(input_event.artifact_id)
    records = {record.id: record for _, record in _execution_records(store, list(executions.values()))}
    artifacts = {a.id: a for a in _artifact_records(store, list(output_events.values()), records)}
    artifact_types = _type_names(store.get_artifact_types())
    for leaf in store.get_artifacts_by_id(sorted(seen - set(artifacts))):
        artifacts[leaf.id] = _artifact_record(leaf, artifact_types.get(leaf.type_id, ""))
    return Lineage(artifacts[artifact_id], artifacts, records, edges)


def pushed_model_lineage(store: mlmd.MetadataStore, pipeline_name: str, run_id: str = LATEST) -> Lineage:
    """The lineage of the PushedModel output in a run (the latest by default)."""
    run = get_run(store, pipeline_name, run_id)
    pushed = output_artifacts(store, run.run_id, "PushedModel")
    if not pushed:
        raise MetadataError(f"run {run.run_id!r} has no pushed model (its Pusher did not execute)")
    return lineage(store, pushed[-1].id)


def runs_with_output(store: mlmd.MetadataStore, pipeline_name: str, type_name: str) -> List[RunRecord]:
    """The pipeline's runs that output an artifact of ``type_name`` (made or reused from the cache), oldest first."""
    return [r for r in runs(store, pipeline_name) if output_artifacts(store, r.run_id, type_name)]


def _evaluation_uri(store: mlmd.MetadataStore, run_id: str) -> str:
    evaluations = output_artifacts(store, run_id, "ModelEvaluation")
    if not evaluations:
        raise MetadataError(f"run {run_id!r} produced no model evaluation")
    return evaluations[0].uri


def evaluation_metrics(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The Evaluator's metrics in run ``run_id``: ``{"overall": {...}, "by_label": {label: {...}}, "baseline": ...}``.

    ``baseline`` has the same two keys for the baseline model it was compared with, or is None
    when there was none; the candidate's ``*_diff`` metrics are candidate minus baseline.
    """
    import tensorflow_model_analysis as tfma

    uri = _evaluation_uri(store, run_id)
    result = tfma.load_eval_result(uri)
    metrics = _slice_metrics(result)
    has_baseline = any(spec.is_baseline for spec in result.config.model_specs)
    metrics["baseline"] = _slice_metrics(tfma.load_eval_result(uri, model_name=TFMA_BASELINE)) if has_baseline else None
    return metrics


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
