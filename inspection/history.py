"""A pipeline's runs: their executions in order, and the artifacts each run output or read.

With caching, a cached execution records the original artifacts as its outputs: a run's
artifacts may have been produced by an earlier run (``ArtifactRecord.cached``). Runs are read in
either layout (TFX's or Kubeflow Pipelines 2's, inspection/store_layout.py).
"""

from typing import Dict, List

import ml_metadata as mlmd

from inspection import store_layout
from inspection.records import ArtifactRecord, ExecutionRecord, RunRecord, artifact_record
from inspection.store import (
    LATEST,
    Event,
    MetadataError,
    State,
    artifact_type_id,
    artifact_type_names,
    contexts_of_type,
    run_context,
    type_names,
)


def pipelines(store: mlmd.MetadataStore) -> List[str]:
    """Names of the pipelines that have run against this store."""
    return sorted(c.name for c in contexts_of_type(store, store_layout.of(store).pipeline_context))


def execution_records(store: mlmd.MetadataStore, executions: list) -> List[tuple]:
    """(pipeline name, ExecutionRecord) for each execution, from its pipeline, run and node contexts."""
    context_types = type_names(store.get_context_types())
    layout = store_layout.from_names(context_types.values())
    execution_types = type_names(store.get_execution_types())
    records = []
    for execution in executions:
        names = {}
        for context in store.get_contexts_by_execution(execution.id):
            names.setdefault(context_types[context.type_id], context.name)
        record = ExecutionRecord(
            node=layout.node(execution, names),
            state=State.Name(execution.last_known_state),
            start_ms=execution.create_time_since_epoch,
            end_ms=execution.last_update_time_since_epoch,
            id=execution.id,
            type_name=execution_types.get(execution.type_id, ""),
            run_id=names.get(layout.run_context, ""),
        )
        records.append((names.get(layout.pipeline_context, ""), record))
    return records


def runs(store: mlmd.MetadataStore, pipeline_name: str) -> List[RunRecord]:
    """The pipeline's runs, oldest first, with each run's executions in start order."""
    layout = store_layout.of(store)
    contexts = contexts_of_type(store, layout.run_context)
    executions = [execution for context in contexts for execution in store.get_executions_by_context(context.id)]
    by_run: Dict[str, list] = {}
    for pipeline, record in execution_records(store, executions):  # one pass: types are fetched once
        # Another pipeline may share the store; a KFP run's root DAG execution is no step.
        if pipeline == pipeline_name and layout.is_step(record.type_name):
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


def output_artifacts(store: mlmd.MetadataStore, run_id: str, type_name: str) -> list:
    """The artifacts of type ``type_name`` (e.g. ``ModelBlessing``, either layout) produced in run ``run_id``, by id."""
    context = run_context(store, run_id)
    type_id = artifact_type_id(store, type_name)
    if type_id is None:
        return []
    executions = [e.id for e in store.get_executions_by_context(context.id)]
    outputs = {
        event.artifact_id for event in store.get_events_by_execution_ids(executions) if event.type == Event.OUTPUT
    }
    return [a for a in store.get_artifacts_by_id(sorted(outputs)) if a.type_id == type_id]


def artifact_records(store: mlmd.MetadataStore, events: list, executions: Dict[int, ExecutionRecord]) -> list:
    """An ArtifactRecord per output event, described by the execution that emitted it."""
    artifact_types = artifact_type_names(store)
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    return [
        artifact_record(
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
    records = artifact_records(store, events, executions)
    return sorted(records, key=lambda a: (order[a.execution_id], a.key, a.id))


def run_artifact(store: mlmd.MetadataStore, pipeline_name: str, run_id: str, type_name: str, key: str):
    """The ``type_name`` artifact a run output under ``key`` (e.g. ``ExampleStatistics``, ``statistics``)."""
    for artifact in run_artifacts(store, pipeline_name, run_id):
        if artifact.type_name == type_name and artifact.key == key:
            return artifact
    raise MetadataError(f"run {run_id!r} has no {type_name} output {key!r}")


def execution_inputs(store: mlmd.MetadataStore, run_id: str, node: str) -> dict:
    """Maps each input key of ``node``'s execution in run ``run_id`` to its artifacts."""
    executions = store.get_executions_by_context(run_context(store, run_id).id)
    for _, record in execution_records(store, executions):
        if record.node != node:
            continue
        inputs = {}
        for event in store.get_events_by_execution_ids([record.id]):
            if event.type == Event.INPUT:
                key = event.path.steps[0].key
                inputs.setdefault(key, []).extend(store.get_artifacts_by_id([event.artifact_id]))
        return inputs
    raise MetadataError(f"node {node!r} did not execute in run {run_id!r}")


def runs_with_output(store: mlmd.MetadataStore, pipeline_name: str, type_name: str) -> List[RunRecord]:
    """The pipeline's runs that output an artifact of ``type_name`` (made or reused from the cache), oldest first."""
    return [r for r in runs(store, pipeline_name) if output_artifacts(store, r.run_id, type_name)]
