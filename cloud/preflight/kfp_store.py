"""The metadata a KFP 2 backend keeps, in an ML Metadata SQLite file, for the preflight (cloud/preflight.py).

Runs, steps and artifacts are recorded the way Kubeflow Pipelines' driver and launcher record them
(``backend/src/v2/metadata/client.go``): a ``system.Pipeline`` context per pipeline, a
``system.PipelineRun`` context per run, the run's root ``system.DAGExecution``, one
``system.ContainerExecution`` per step (custom properties ``task_name``, ``inputs``,
``cache_fingerprint``, ``image``), artifact types named by their schema title (``tfx.Model``,
``system.Metrics``), an artifact's metadata as its custom properties, and INPUT/OUTPUT events
keyed by the step's input or output name. ``python -m inspection --metadata-path`` reads it with the
same code as a Kubeflow metadata service. A step's runtime artifact is a dict shaped like KFP's
``RuntimeArtifact`` JSON (``name`` is the MLMD id as text, as KFP gives it to the next step).
"""

import os

import ml_metadata as mlmd
from google.protobuf import struct_pb2
from ml_metadata.proto import metadata_store_pb2 as pb

from inspection import store_layout
from inspection.records import plain_value

KFP = store_layout.KFP


class UnsupportedValue(ValueError):
    """A metadata value KFP's launcher cannot record (a null); the message names it."""


def to_value(value, name: str = "") -> pb.Value:
    """A metadata value as KFP records it (``backend/src/v2/metadata/converter.go``, ``StructValueToMLMDValue``):
    numbers as doubles, bools as 0/1, a list as ``{"list": [...]}`` and a map as ``{"struct": {...}}``."""
    if isinstance(value, bool):
        return pb.Value(int_value=int(value))
    if isinstance(value, (int, float)):
        return pb.Value(double_value=float(value))
    if isinstance(value, str):
        return pb.Value(string_value=value)
    if value is None:
        raise UnsupportedValue(f"metadata {name or 'value'} is null, which KFP records as no type (a failed step)")
    struct = struct_pb2.Struct()
    struct.update({"struct" if isinstance(value, dict) else "list": value})
    return pb.Value(struct_value=struct)


def property_value(value) -> pb.Value:
    """An execution's or context's custom property as KFP's driver records it: a map (``inputs``) as a plain struct."""
    if isinstance(value, dict):
        struct = struct_pb2.Struct()
        struct.update(value)
        return pb.Value(struct_value=struct)
    return to_value(value)


def _runtime(artifact: pb.Artifact) -> dict:
    """An MLMD artifact as a runtime artifact: name (the id, as text), uri and metadata."""
    metadata = {
        k: plain_value(v) for k, v in artifact.custom_properties.items() if k not in store_layout.KFP_ARTIFACT_KEYS
    }
    return {"name": str(artifact.id), "uri": artifact.uri, "metadata": metadata}


class KfpStore:
    """One pipeline's runs in an MLMD SQLite file, in KFP 2's layout; created when missing."""

    def __init__(self, path: str, pipeline_name: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = mlmd.MetadataStore(config)
        self.path = path
        self.pipeline = self._context(KFP.pipeline_context, pipeline_name)
        self.run = self.root = None

    def _context(self, type_name: str, name: str, **properties) -> pb.Context:
        """The context ``name`` of ``type_name``, made (with ``properties``) when it does not exist yet."""
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing
        context = pb.Context(type_id=self.store.put_context_type(pb.ContextType(name=type_name)), name=name)
        for key, value in properties.items():
            context.custom_properties[key].CopyFrom(property_value(value))
        [context.id] = self.store.put_contexts([context])
        return context

    def _execution_type(self, name: str) -> int:
        return self.store.put_execution_type(pb.ExecutionType(name=name))

    def start_run(self, run_id: str, pipeline_root: str, parameters: dict) -> None:
        """Opens run ``run_id`` and its root DAG execution, which holds the run's parameter values as ``inputs``."""
        self.run = self._context(KFP.run_context, run_id, pipeline_root=pipeline_root, resource_name=run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=self.run.id, parent_id=self.pipeline.id)])
        root = pb.Execution(type_id=self._execution_type(KFP.dag_execution), last_known_state=pb.Execution.RUNNING)
        root.custom_properties["display_name"].string_value = f"run/{run_id}"
        root.custom_properties["inputs"].CopyFrom(property_value(parameters))
        self.root = self._put(root, [])

    def finish_run(self, state: str) -> None:
        """Sets the root DAG execution's state: ``COMPLETE`` or ``FAILED``."""
        [root] = self.store.get_executions_by_id([self.root])
        root.last_known_state = pb.Execution.State.Value(state)
        self._put(root, [])

    def _put(self, execution: pb.Execution, pairs: list) -> int:
        execution_id, _, _ = self.store.put_execution(execution, pairs, [self.pipeline, self.run])
        return execution_id

    def _event_pairs(self, artifacts: dict, kind: int, types: dict) -> list:
        """(artifact, event) pairs for ``{key: [runtime artifact]}``; new artifacts get their type from ``types``."""
        pairs, seen = [], set()
        for key, items in sorted(artifacts.items()):
            for item in items:
                if item.get("name") in seen:
                    # MLMD keeps one event per artifact, execution and direction: an Evaluator whose
                    # baseline is its own (cached) model records it once, under the first key.
                    continue
                if item.get("name"):
                    seen.add(item["name"])
                    [artifact] = self.store.get_artifacts_by_id([int(item["name"])])
                else:
                    artifact = self._new_artifact(item, key, types[key])
                # KFP's event path is the input or output name alone (metadata/client.go, eventPath).
                path = pb.Event.Path(steps=[pb.Event.Path.Step(key=key)])
                pairs.append((artifact, pb.Event(type=kind, path=path)))
        return pairs

    def _new_artifact(self, item: dict, key: str, title: str) -> pb.Artifact:
        artifact_type = self.store.put_artifact_type(pb.ArtifactType(name=title))
        artifact = pb.Artifact(type_id=artifact_type, uri=item["uri"], state=pb.Artifact.LIVE)
        for name, value in item.get("metadata", {}).items():
            artifact.custom_properties[name].CopyFrom(to_value(value, name))
        artifact.custom_properties["display_name"].string_value = key
        return artifact

    def start_step(self, task: str, kind: str, inputs: dict, parameters: dict, properties: dict) -> int:
        """Records step ``task`` as RUNNING with its input artifacts; returns its execution id."""
        execution = pb.Execution(type_id=self._execution_type(kind), last_known_state=pb.Execution.RUNNING)
        values = {"display_name": task, "task_name": task, "inputs": parameters}
        for name, value in {**values, **properties}.items():
            execution.custom_properties[name].CopyFrom(property_value(value))
        execution.custom_properties["parent_dag_id"].int_value = self.root  # an id, where to_value makes a double
        return self._put(execution, self._event_pairs(inputs, pb.Event.INPUT, {}))

    def end_step(self, execution_id: int, state: str, outputs: dict, types: dict, **properties) -> dict:
        """Sets the step's state and records its outputs; returns them with their MLMD ids as names."""
        [execution] = self.store.get_executions_by_id([execution_id])
        execution.last_known_state = pb.Execution.State.Value(state)
        for name, value in properties.items():
            execution.custom_properties[name].CopyFrom(property_value(value))
        pairs = self._event_pairs(outputs, pb.Event.OUTPUT, types)
        _, ids, _ = self.store.put_execution(execution, pairs, [self.pipeline, self.run])
        named = iter(ids)
        return {key: [{**item, "name": str(next(named))} for item in items] for key, items in sorted(outputs.items())}

    def cached_outputs(self, fingerprint: str):
        """The outputs of the newest COMPLETE step of this pipeline with ``fingerprint``, and its id; None if none."""
        steps = [
            e
            for e in self.store.get_executions_by_context(self.pipeline.id)
            if e.last_known_state == pb.Execution.COMPLETE
            and e.custom_properties["cache_fingerprint"].string_value == fingerprint
        ]
        if not steps:
            return None
        step = max(steps, key=lambda e: (e.create_time_since_epoch, e.id))
        outputs = {}
        for event in self.store.get_events_by_execution_ids([step.id]):
            if event.type == pb.Event.OUTPUT:
                outputs.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
        return {key: [self.runtime_artifact(i) for i in sorted(ids)] for key, ids in outputs.items()}, step.id

    def runtime_artifact(self, artifact_id: int) -> dict:
        """Artifact ``artifact_id`` as a runtime artifact: name (the id), uri and metadata."""
        return _runtime(self.store.get_artifacts_by_id([artifact_id])[0])

    def find(self, title: str, live: bool, predicates: dict, name: str = "") -> list:
        """This pipeline's artifacts of type ``title`` matching every ``predicates`` value, newest first.

        ``name`` keeps only the artifact of that runtime name (its id); what a resolver task's query asks.
        """
        try:
            type_id = self.store.get_artifact_type(title).id
        except mlmd.errors.NotFoundError:
            return []
        found = []
        for artifact in self.store.get_artifacts_by_context(self.pipeline.id):
            if artifact.type_id != type_id or (live and artifact.state != pb.Artifact.LIVE):
                continue
            item = _runtime(artifact)
            if (name and item["name"] != name) or any(item["metadata"].get(k) != v for k, v in predicates.items()):
                continue
            found.append((artifact.create_time_since_epoch, artifact.id, item))
        return [item for _, _, item in sorted(found, key=lambda f: f[:2], reverse=True)]
