"""What the run page shows, read from ML Metadata and the run's artifacts: the DAG, a component, trials, epochs.

Every value comes from the store or from files inside the run's artifact folders; nothing is
written. The evaluation and the data are in ui/results_view.py.
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional

import ml_metadata as mlmd

from inspection import run_table, store_layout
from inspection.history import artifact_records
from inspection.records import ArtifactRecord, RunRecord, plain_value
from inspection.store import RUN_DAG, RUN_ERROR, RUN_LOG, Event, MetadataError
from ui import charts

# TFX's record of a failed execution's error (tfx.orchestration.portable.mlmd.execution_lib).
EXECUTION_RESULT = "__execution_result__"
# Execution properties that are TFX's or KFP's bookkeeping, not the component's settings.
HIDDEN_PROPERTIES = (EXECUTION_RESULT, "display_name", "parent_dag_id", "task_name", "cache_fingerprint", "inputs")
NOT_RUN = "NOT RUN"
TUNER_RESULTS_FILE = "tuner_results.json"  # what TFX's Tuner writes in its tuner_results artifact


class NotFound(LookupError):
    """No such run, component or artifact: the page is a 404."""


@dataclasses.dataclass
class RunData:
    """One run as the page needs it: the record, its context, its executions and their artifacts."""

    run: RunRecord
    context: object
    executions: list
    outputs: List[ArtifactRecord]
    inputs: List[ArtifactRecord]
    flags: str
    parameters: dict

    def output(self, type_name: str, node: str = "") -> Optional[ArtifactRecord]:
        """The first output of ``type_name`` (from ``node`` when given), or None."""
        for artifact in self.outputs:
            if artifact.type_name == type_name and (not node or artifact.node == node):
                return artifact
        return None

    def execution(self, node: str):
        """The MLMD execution of ``node`` in this run, or None when it did not run."""
        ids = {e.id for e in self.run.executions if e.node == node}
        return next((e for e in self.executions if e.id in ids), None)


def load(store: mlmd.MetadataStore, pipeline_name: str, run_id: str) -> RunData:
    """The run ``run_id`` of the pipeline; NotFound when the store has no such run of it."""
    layout = store_layout.of(store)
    context = store.get_context_by_type_and_name(layout.run_context, run_id)
    parents = store.get_parent_contexts_by_context(context.id) if context is not None else []
    if pipeline_name not in {c.name for c in parents}:
        raise NotFound(f"no run {run_id!r} of pipeline {pipeline_name!r} in this store")
    [(run, executions)] = run_table.run_records(store, pipeline_name, [context])
    by_id = {e.id: e for e in run.executions}
    events = [e for e in store.get_events_by_execution_ids(list(by_id)) if e.execution_id in by_id]
    outputs = artifact_records(store, [e for e in events if e.type == Event.OUTPUT], by_id)
    inputs = artifact_records(store, [e for e in events if e.type == Event.INPUT], by_id)
    flags, parameters = run_table.parameters(store, context, executions)
    return RunData(run, context, executions, outputs, inputs, flags, parameters)


def upstream(data: RunData) -> Dict[str, List[str]]:
    """``{node: [upstream nodes]}``: as the local run recorded it, else as the run's artifacts connect its steps."""
    recorded = data.context.custom_properties.get(RUN_DAG)
    if recorded is not None and recorded.string_value:
        return json.loads(recorded.string_value)
    producers = {}
    for artifact in data.outputs:
        producers.setdefault(artifact.id, set()).add(artifact.node)
    dag = {e.node: set() for e in data.run.executions}
    for artifact in data.inputs:
        dag[artifact.node] |= producers.get(artifact.id, set()) - {artifact.node}
    return {node: sorted(nodes) for node, nodes in dag.items()}


def dag_chart(data: RunData) -> dict:
    """The DAG's boxes: each component's state (NOT RUN when it has no execution) and duration."""
    dag = upstream(data)
    successors = {node: set() for node in dag}
    for node, sources in dag.items():
        for source in sources:
            successors.setdefault(source, set()).add(node)
    states = {e.node: e for e in data.run.executions}
    labels, fills = {}, {}
    for node in successors:
        execution = states.get(node)
        state = execution.state if execution else NOT_RUN
        labels[node] = [node, f"{state.lower()}" + (f" · {execution.seconds:.1f} s" if execution else "")]
        fills[node] = charts.STATE_FILL.get(state, "#ffffff")
    return charts.graph(successors, labels, fills)


def component(data: RunData, node: str) -> dict:
    """A component's execution: state, time, settings, inputs and outputs, and for a failure its error and log."""
    if node not in upstream(data):
        raise NotFound(f"run {data.run.run_id!r} has no component {node!r}")
    execution = data.execution(node)
    record = next((e for e in data.run.executions if e.node == node), None)
    if execution is None:
        return {"node": node, "state": NOT_RUN}
    properties = {k: plain_value(v) for k, v in sorted(execution.custom_properties.items())}
    inputs_struct = properties.get("inputs")
    if isinstance(inputs_struct, dict):  # KFP keeps exec properties inside ``inputs``
        properties.update(inputs_struct)
    shown = {k: v for k, v in properties.items() if k not in HIDDEN_PROPERTIES and not k.startswith("__")}
    detail = {
        "node": node,
        "state": record.state,
        "seconds": record.seconds,
        "execution_id": execution.id,
        "type_name": record.type_name,
        "properties": shown,
        "inputs": [a for a in data.inputs if a.node == node],
        "outputs": [a for a in data.outputs if a.node == node],
    }
    if record.state in ("FAILED", "CANCELED"):
        detail["error"] = _error(execution, data.context)
        log = data.context.custom_properties.get(RUN_LOG)
        detail["log"] = log.string_value if log is not None else ""
    return detail


def _error(execution, context) -> str:
    """The failure TFX recorded for an execution, else the line the local run ended with, else a pointer to the log."""
    result = execution.custom_properties.get(EXECUTION_RESULT)
    if result is not None and result.string_value:
        try:
            return json.loads(result.string_value).get("resultMessage", "") or result.string_value
        except ValueError:
            return result.string_value
    ended = context.custom_properties.get(RUN_ERROR)
    if ended is not None and ended.string_value:
        return ended.string_value
    return "no error was recorded in ML Metadata; the run's log has the traceback"


def read_json(folder: str, name: str) -> list:
    """The JSON list ``name`` in a local artifact folder ([] when absent)."""
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return json.load(f)


def trials(data: RunData) -> dict:
    """The Tuner's completed trials (TFX's tuner_results.json), best first: values and score."""
    results = data.output("TunerResults")
    if results is None:
        return {}
    rows = read_json(results.uri, TUNER_RESULTS_FILE)
    names = sorted({k for row in rows for k in row} - {"trial_id", "score"})
    rows = sorted(rows, key=lambda r: -(r.get("score") or 0.0))
    return {"names": names, "rows": rows, "cached": results.cached, "uri": results.uri}


def epochs(data: RunData) -> dict:
    """The Trainer's epochs (models/callbacks.py's epochs.jsonl) as three charts: loss, eval accuracy, rate."""
    from models import callbacks  # TensorFlow: loaded with the first run page, not to start the UI

    model_run = data.output("ModelRun")
    if model_run is None:
        return {}
    records = callbacks.read_records(model_run.uri)
    if not records:
        return {}

    def series(name: str) -> list:
        return [(r["epoch"], r.get(name)) for r in records]

    return {
        "records": records,
        "loss": charts.line_chart({"loss": series("loss")}),
        "accuracy": charts.line_chart({"eval accuracy": series("eval_accuracy")}),
        "learning_rate": charts.line_chart({"learning rate": series("learning_rate")}),
        "cached": model_run.cached,
    }


def require_known(store: mlmd.MetadataStore, pipeline_name: str) -> None:
    """MetadataError naming the pipelines in the store when ``pipeline_name`` never ran there."""
    layout = store_layout.of(store)
    if store.get_context_by_type_and_name(layout.pipeline_context, pipeline_name) is None:
        others = sorted(c.name for c in store.get_contexts_by_type(layout.pipeline_context))
        hint = f" (pipelines there: {', '.join(others)})" if others else ""
        raise MetadataError(f"no runs of pipeline {pipeline_name!r} in this store{hint}")
