"""What the queries return: one execution, one run, one artifact, as plain frozen records."""

import dataclasses
import datetime
from typing import List, Optional

from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2


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
        """FAILED if any execution failed, CANCELED if it was stopped, RUNNING if any has not finished (or was
        killed outright), else COMPLETE."""
        states = {e.state for e in self.executions}
        if "FAILED" in states:
            return "FAILED"
        if "CANCELED" in states:
            return "CANCELED"
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


def plain_value(value: metadata_store_pb2.Value):
    """A property value as a plain Python value; a map or list KFP's launcher wrapped comes back unwrapped."""
    kind = value.WhichOneof("value")
    if kind in ("struct_value", "proto_value"):
        plain = json_format.MessageToDict(getattr(value, kind))
        # KFP records a map as {"struct": {...}} and a list as {"list": [...]}
        # (backend/src/v2/metadata/converter.go, StructValueToMLMDValue); TFX records them as they are.
        if kind == "struct_value" and len(plain) == 1 and next(iter(plain)) in ("struct", "list"):
            return next(iter(plain.values()))
        return plain
    return getattr(value, kind) if kind else None


def plain_properties(artifact) -> dict:
    """An artifact's properties and custom properties as plain Python values, by name."""
    properties = {**artifact.properties, **artifact.custom_properties}
    return {name: plain_value(v) for name, v in sorted(properties.items())}


def artifact_record(artifact, type_name: str, key: str = "", execution: Optional[ExecutionRecord] = None):
    """An ArtifactRecord; ``execution`` is the one whose output event ``key`` it is (None: not walked to)."""
    return ArtifactRecord(
        id=artifact.id,
        type_name=type_name,
        uri=artifact.uri,
        state=metadata_store_pb2.Artifact.State.Name(artifact.state),
        node=execution.node if execution else "",
        key=key,
        execution_id=execution.id if execution else 0,
        cached=execution.cached if execution else False,
        properties=plain_properties(artifact),
    )
