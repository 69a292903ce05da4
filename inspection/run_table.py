"""A page of a pipeline's runs, newest first, each with its outcome: the rows of the web UI's runs page.

``history.runs`` reads every run with a query per execution; a store of hundreds of runs needs
fewer: the run contexts come from the pipeline context's children, the node of every execution
from one query per node, and the outcome of a page of runs (test accuracy, blessing, pushed
version) from the custom properties of its output artifacts, in a handful of queries.
"""

import dataclasses
import json
from typing import Dict, List, Optional, Tuple

import ml_metadata as mlmd

from inspection import store_layout
from inspection.records import ExecutionRecord, RunRecord, plain_properties, plain_value
from inspection.store import RUN_FLAGS, RUN_SETTINGS, Event, State, artifact_type_names
from pipeline import evaluation as evaluation_lib


@dataclasses.dataclass(frozen=True)
class RunRow:
    """One run and its outcome; ``parameters`` are its flags (local) or runtime parameters (KFP)."""

    run: RunRecord
    accuracy: Optional[float]
    blessed: Optional[bool]
    pushed_version: str
    flags: str
    parameters: dict

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return dict(self.run.to_dict(), **{k: v for k, v in dataclasses.asdict(self).items() if k != "run"})


def run_contexts(store: mlmd.MetadataStore, pipeline_name: str) -> list:
    """The pipeline's run contexts, newest first (both layouts make each run a child of the pipeline); [] if none."""
    layout = store_layout.of(store)
    pipeline = store.get_context_by_type_and_name(layout.pipeline_context, pipeline_name)
    if pipeline is None:
        return []
    types = {t.id: t.name for t in store.get_context_types()}
    runs = [c for c in store.get_children_contexts_by_context(pipeline.id) if types[c.type_id] == layout.run_context]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


def node_names(store: mlmd.MetadataStore, pipeline_name: str, executions: list) -> Dict[int, str]:
    """Maps the id of each of ``executions`` to its node id; KFP's steps name their own node.

    TFX's layout puts each node's executions under a node context: one query per node, asking only
    for executions created in the window of ``executions`` (a node has one per run).
    """
    layout = store_layout.of(store)
    if not layout.node_context or not executions:
        return {}
    times = [e.create_time_since_epoch for e in executions]
    window = mlmd.ListOptions(
        filter_query=f"create_time_since_epoch >= {min(times)} AND create_time_since_epoch <= {max(times)}"
    )
    prefix, wanted, names = pipeline_name + ".", {e.id for e in executions}, {}
    for context in store.get_contexts_by_type(layout.node_context):
        if context.name.startswith(prefix):
            for execution in store.get_executions_by_context(context.id, list_options=window):
                if execution.id in wanted:
                    names[execution.id] = context.name[len(prefix) :]
    return names


def run_records(store: mlmd.MetadataStore, pipeline_name: str, contexts: list) -> List[Tuple[RunRecord, list]]:
    """(RunRecord, the run's MLMD executions including a KFP run's root) for each of ``contexts``."""
    layout = store_layout.of(store)
    execution_types = {t.id: t.name for t in store.get_execution_types()}
    by_run = [store.get_executions_by_context(context.id) for context in contexts]
    nodes = node_names(store, pipeline_name, [e for executions in by_run for e in executions])
    records = []
    for context, executions in zip(contexts, by_run, strict=True):
        steps = [
            ExecutionRecord(
                node=nodes.get(e.id) or layout.node(e, {}),
                state=State.Name(e.last_known_state),
                start_ms=e.create_time_since_epoch,
                end_ms=e.last_update_time_since_epoch,
                id=e.id,
                type_name=execution_types.get(e.type_id, ""),
                run_id=context.name,
            )
            for e in executions
            if layout.is_step(execution_types.get(e.type_id, ""))
        ]
        run = RunRecord(context.name, context.create_time_since_epoch, sorted(steps, key=lambda r: (r.start_ms, r.id)))
        records.append((run, executions))
    return records


def outputs_by_run(store: mlmd.MetadataStore, records: list) -> Dict[str, Dict[str, list]]:
    """For each run, its output artifacts by type name (cache hits included), in two queries."""
    run_of = {e.id: run.run_id for run, executions in records for e in executions}
    events = [e for e in store.get_events_by_execution_ids(list(run_of)) if e.type == Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))}
    types = artifact_type_names(store)
    outputs: Dict[str, Dict[str, list]] = {run.run_id: {} for run, _ in records}
    for event in events:
        artifact = artifacts[event.artifact_id]
        outputs[run_of[event.execution_id]].setdefault(types.get(artifact.type_id, ""), []).append(artifact)
    return outputs


def parameters(store: mlmd.MetadataStore, context, executions: list) -> Tuple[str, dict]:
    """(flags as typed, the settings or runtime parameters by name) a run used; empty when not recorded."""
    if RUN_FLAGS in context.custom_properties:
        settings = context.custom_properties.get(RUN_SETTINGS)
        return context.custom_properties[RUN_FLAGS].string_value, json.loads(settings.string_value or "{}")
    layout = store_layout.of(store)
    if not layout.dag_execution:
        return "", {}
    try:
        root_type = store.get_execution_type(layout.dag_execution).id  # one query by name, not every type
    except mlmd.errors.NotFoundError:
        return "", {}
    for execution in executions:  # a KFP run: its root DAG execution holds the runtime parameters
        if execution.type_id == root_type and "inputs" in execution.custom_properties:
            values = plain_value(execution.custom_properties["inputs"]) or {}
            return " ".join(f"{k}={v}" for k, v in sorted(values.items())), values
    return "", {}


def _version(value) -> str:
    """A pushed version as its folder name: KFP stores every number as a double."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value or "")


def _first(outputs: Dict[str, list], type_name: str) -> dict:
    return plain_properties(outputs[type_name][0]) if outputs.get(type_name) else {}


def run_page(store: mlmd.MetadataStore, pipeline_name: str, offset: int = 0, limit: int = 50) -> Tuple[int, list]:
    """(how many runs the pipeline has, the RunRows of runs ``offset`` to ``offset + limit``, newest first)."""
    contexts = run_contexts(store, pipeline_name)
    page = contexts[offset : offset + limit]
    records = run_records(store, pipeline_name, page)
    outputs = outputs_by_run(store, records)
    rows = []
    for context, (run, executions) in zip(page, records, strict=True):
        published = _first(outputs[run.run_id], "system.Metrics")
        blessing = _first(outputs[run.run_id], "ModelBlessing")
        pushed = _first(outputs[run.run_id], "PushedModel")
        flags, values = parameters(store, context, executions)
        rows.append(
            RunRow(
                run=run,
                accuracy=published.get(evaluation_lib.PUBLISHED_ACCURACY),
                blessed=None if not blessing else blessing.get("blessed") == 1,
                pushed_version=_version(pushed.get("pushed_version")) if pushed.get("pushed") == 1 else "",
                flags=flags,
                parameters=values,
            )
        )
    return len(contexts), rows
