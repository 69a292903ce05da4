"""The one place that queries ML Metadata: runs of a pipeline and their executions.

Opens the SQLite store read-only, so inspecting never creates or changes a store.
"""

import dataclasses
import os
from typing import List

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
State = metadata_store_pb2.Execution.State


class MetadataError(RuntimeError):
    """The store is missing, unreadable, or has no such pipeline or run."""


@dataclasses.dataclass(frozen=True)
class ExecutionRecord:
    """One component execution: its node id, final state and wall time."""

    node: str
    state: str
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        """Wall time from the execution's creation to its last update."""
        return (self.end_ms - self.start_ms) / 1000.0


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One pipeline run (a ``pipeline_run`` context) and its executions."""

    run_id: str
    created_ms: int
    executions: List[ExecutionRecord]

    def states(self) -> dict:
        """Maps node id to the final state of its execution in this run."""
        return {e.node: e.state for e in self.executions}


def open_store(sqlite_path: str) -> mlmd.MetadataStore:
    """Opens an existing SQLite metadata store read-only."""
    if not os.path.isfile(sqlite_path):
        raise MetadataError(f"{sqlite_path}: no metadata store there (has the pipeline run yet?)")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        return mlmd.MetadataStore(config)
    except Exception as err:  # noqa: BLE001  (MLMD raises its own status errors)
        raise MetadataError(f"{sqlite_path}: not a readable metadata store ({err})") from err


def runs(store: mlmd.MetadataStore, pipeline_name: str) -> List[RunRecord]:
    """The pipeline's runs, oldest first, with each run's executions."""
    node_type = store.get_context_type(NODE_CONTEXT)
    prefix = pipeline_name + "."
    records = []
    for context in store.get_contexts_by_type(RUN_CONTEXT):
        executions = []
        for execution in store.get_executions_by_context(context.id):
            nodes = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type_id == node_type.id]
            node = next((n[len(prefix) :] for n in nodes if n.startswith(prefix)), None)
            if node is None:
                continue  # another pipeline's execution sharing the store
            executions.append(
                ExecutionRecord(
                    node=node,
                    state=State.Name(execution.last_known_state),
                    start_ms=execution.create_time_since_epoch,
                    end_ms=execution.last_update_time_since_epoch,
                )
            )
        if executions:
            records.append(RunRecord(context.name, context.create_time_since_epoch, executions))
    return sorted(records, key=lambda r: r.created_ms)


def latest_run(store: mlmd.MetadataStore, pipeline_name: str) -> RunRecord:
    """The pipeline's most recent run."""
    records = runs(store, pipeline_name)
    if not records:
        raise MetadataError(f"no runs of pipeline {pipeline_name!r} in this store")
    return records[-1]


def output_artifacts(store: mlmd.MetadataStore, run_id: str, type_name: str) -> list:
    """The artifacts of type ``type_name`` (e.g. ``ModelBlessing``) produced in run ``run_id``."""
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        raise MetadataError(f"no run {run_id!r} in this store")
    artifact_type = store.get_artifact_type(type_name)
    executions = [e.id for e in store.get_executions_by_context(context.id)]
    outputs = {
        event.artifact_id
        for event in store.get_events_by_execution_ids(executions)
        if event.type == metadata_store_pb2.Event.OUTPUT
    }
    return [a for a in store.get_artifacts_by_id(sorted(outputs)) if a.type_id == artifact_type.id]


def execution_inputs(store: mlmd.MetadataStore, run_id: str, node: str) -> dict:
    """Maps each input key of ``node``'s execution in run ``run_id`` to its artifacts."""
    context = store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
    if context is None:
        raise MetadataError(f"no run {run_id!r} in this store")
    node_type = store.get_context_type(NODE_CONTEXT)
    for execution in store.get_executions_by_context(context.id):
        nodes = {c.name.rsplit(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                 if c.type_id == node_type.id}  # fmt: skip
        if node not in nodes:
            continue
        inputs = {}
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == metadata_store_pb2.Event.INPUT:
                key = event.path.steps[0].key
                inputs.setdefault(key, []).extend(store.get_artifacts_by_id([event.artifact_id]))
        return inputs
    raise MetadataError(f"node {node!r} did not execute in run {run_id!r}")


def evaluation_metrics(store: mlmd.MetadataStore, run_id: str) -> dict:
    """The Evaluator's metrics in run ``run_id``: ``{"overall": {...}, "by_label": {label: {...}}}``."""
    import tensorflow_model_analysis as tfma

    evaluations = output_artifacts(store, run_id, "ModelEvaluation")
    if not evaluations:
        raise MetadataError(f"run {run_id!r} produced no model evaluation")
    result = tfma.load_eval_result(evaluations[0].uri)
    metrics = {"overall": {}, "by_label": {}}
    for slice_key, by_output in result.slicing_metrics:
        values = {name: value.get("doubleValue") for name, value in by_output[""][""].items()}
        if not slice_key:
            metrics["overall"] = values
        else:
            metrics["by_label"][int(slice_key[0][1])] = values
    metrics["by_label"] = dict(sorted(metrics["by_label"].items()))
    return metrics
