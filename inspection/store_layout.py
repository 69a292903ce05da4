"""The two ways runs are laid out in ML Metadata: TFX's own orchestrators', and Kubeflow Pipelines 2's.

TFX (LocalDagRunner, and the store a local run writes) records a run as a ``pipeline_run``
context and each step under a ``node`` context named ``<pipeline>.<node>``; artifact types carry
TFX's names (``Model``). A KFP 2 backend records a run as a ``system.PipelineRun`` context, each
step as a ``system.ContainerExecution`` whose ``task_name`` custom property is the node id, the
run's root as a ``system.DAGExecution``, exec properties inside the ``inputs`` struct, and names
artifact types by schema title (``tfx.Model``, ``system.Metrics``). Queries name types the TFX
way; ``Layout`` maps them, and the store says which layout it holds.
"""

import dataclasses
import weakref

from ml_metadata.proto import metadata_store_pb2

# Where KFP's schema titles put TFX's own artifact types.
TFX_TITLE_PREFIX = "tfx."
# Custom properties KFP adds to every artifact that are not the artifact's own metadata.
KFP_ARTIFACT_KEYS = ("display_name", "store_session_info")


@dataclasses.dataclass(frozen=True)
class Layout:
    """Context and type names of one layout, and how a step's node id and exec properties are read."""

    pipeline_context: str
    run_context: str
    node_context: str = ""  # TFX: a context per node; KFP: the execution's task_name
    type_prefix: str = ""  # KFP: "tfx.", the schema title's namespace of TFX's types
    dag_execution: str = ""  # KFP: the run's (and sub-DAGs') execution, not a step
    container_execution: str = ""

    def stored_type(self, type_name: str) -> str:
        """The artifact type as stored, e.g. ``tfx.Model`` for ``Model`` under KFP; dotted names stay."""
        return type_name if "." in type_name else self.type_prefix + type_name

    def shown_type(self, stored: str) -> str:
        """The artifact type as queries name it, e.g. ``Model`` for ``tfx.Model``."""
        prefix = self.type_prefix
        return stored[len(prefix) :] if prefix and stored.startswith(prefix) else stored

    def is_step(self, execution_type: str) -> bool:
        """Whether executions of this type are pipeline steps (a KFP DAG execution is not)."""
        return not self.dag_execution or execution_type != self.dag_execution

    def node(self, execution: metadata_store_pb2.Execution, contexts: dict) -> str:
        """The node id of a step, given the names of its contexts by context type."""
        if not self.node_context:
            return execution.custom_properties["task_name"].string_value
        pipeline, node = contexts.get(self.pipeline_context, ""), contexts.get(self.node_context, "")
        return node[len(pipeline) + 1 :] if pipeline and node.startswith(pipeline + ".") else node

    def exec_property(self, execution: metadata_store_pb2.Execution, key: str) -> str:
        """A step's exec property ``key`` as text (TFX: a custom property; KFP: a field of ``inputs``)."""
        if self.node_context:
            return execution.custom_properties[key].string_value
        inputs = execution.custom_properties["inputs"].struct_value.fields
        return inputs[key].string_value if key in inputs else ""


TFX = Layout(pipeline_context="pipeline", run_context="pipeline_run", node_context="node")
KFP = Layout(
    pipeline_context="system.Pipeline",
    run_context="system.PipelineRun",
    type_prefix=TFX_TITLE_PREFIX,
    dag_execution="system.DAGExecution",
    container_execution="system.ContainerExecution",
)


# The layout of each open store that holds runs (a store's layout cannot change once it has runs).
_KNOWN = weakref.WeakKeyDictionary()


def from_names(context_types) -> Layout:
    """The layout of a store with these context type names: KFP's when it has KFP run contexts and no TFX ones."""
    names = set(context_types)
    return KFP if KFP.run_context in names and TFX.run_context not in names else TFX


def of(store) -> Layout:
    """The layout of the runs in ``store`` (``from_names``), asked of the store once it holds runs."""
    if store in _KNOWN:
        return _KNOWN[store]
    names = {t.name for t in store.get_context_types()}
    layout = from_names(names)
    if KFP.run_context in names or TFX.run_context in names:
        _KNOWN[store] = layout
    return layout
