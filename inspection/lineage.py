"""Where an artifact came from: its producers, their inputs, and so on back to the data.

Every cache hit re-records the original artifact as its output, so lineage takes as an
artifact's producer the earliest execution that was not itself a cache hit.
"""

import dataclasses
from typing import Dict, List, Optional

import ml_metadata as mlmd

from inspection.history import artifact_records, execution_records, get_run, output_artifacts
from inspection.records import ArtifactRecord, ExecutionRecord, artifact_record
from inspection.store import LATEST, Event, MetadataError, State, artifact_type_names

# The Evaluator's input holding the previously blessed model; lineage stops there (see ``lineage``).
BASELINE_KEY = "baseline_model"


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

    def successors(self) -> Dict[str, set]:
        """The graph to draw: ``a<id>`` (artifact) and ``e<id>`` (execution) nodes, each with the nodes it feeds."""
        successors = {f"a{self.target.id}": set()}
        for edge in self.edges:
            artifact, execution = f"a{edge.artifact_id}", f"e{edge.execution_id}"
            source, target = (artifact, execution) if edge.direction == "input" else (execution, artifact)
            successors.setdefault(source, set()).add(target)
            successors.setdefault(target, set())
        return successors

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
    records = {record.id: record for _, record in execution_records(store, list(executions.values()))}
    artifacts = {a.id: a for a in artifact_records(store, list(output_events.values()), records)}
    artifact_types = artifact_type_names(store)
    for leaf in store.get_artifacts_by_id(sorted(seen - set(artifacts))):
        artifacts[leaf.id] = artifact_record(leaf, artifact_types.get(leaf.type_id, ""))
    return Lineage(artifacts[artifact_id], artifacts, records, edges)


def pushed_model_lineage(store: mlmd.MetadataStore, pipeline_name: str, run_id: str = LATEST) -> Lineage:
    """The lineage of the PushedModel output in a run (the latest by default)."""
    run = get_run(store, pipeline_name, run_id)
    pushed = output_artifacts(store, run.run_id, "PushedModel")
    if not pushed:
        raise MetadataError(f"run {run.run_id!r} has no pushed model (its Pusher did not execute)")
    return lineage(store, pushed[-1].id)
