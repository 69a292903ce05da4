"""Runs one compiled step the way KFP's launcher (and Vertex AI's) runs it, on this machine.

From the spec alone: the step's parameters (constants, and runtime parameters from the run's
values), its input artifacts (what the producing steps recorded), and output artifacts under the
step's own folder of the run's root; together the ``ExecutorInput`` that replaces ``{{$}}`` in
the executor's command and arguments, which run as a process (TFX's v2 container entrypoint, in
this Python standing in for the image's: cloud/preflight/task_processes.py). Its ``ExecutorOutput``
file then updates the outputs' URIs and metadata, as KFP's launcher merges them.
"""

import hashlib
import json
import os
import shutil
import sys

from cloud.preflight.queries import UnsupportedSpec

OUTPUT_FILE = "executor_output.json"
# What KFP's launcher adds to every step's outputs, and the type its driver gives an upstream artifact.
EXECUTOR_LOGS, LOGS_TITLE = "executor-logs", "system.Artifact"
KFP_INPUT_TYPE = {"instanceSchema": ""}
WHOLE_INPUT = "{{$}}"


def task_order(spec: dict) -> list:
    """The tasks of the root DAG in an order that runs every producer before its consumers (ties by name)."""
    tasks = spec["root"]["dag"]["tasks"]
    needs = {}
    for name, task in tasks.items():
        if "triggerPolicy" in task:
            raise UnsupportedSpec(f"task {name} runs under a condition ({task['triggerPolicy']})")
        channels = task.get("inputs", {}).get("artifacts", {}).values()
        producers = {c["taskOutputArtifact"]["producerTask"] for c in channels if "taskOutputArtifact" in c}
        needs[name] = set(task.get("dependentTasks", [])) | producers
    order = []
    while needs:
        ready = sorted(name for name, before in needs.items() if not before - set(order))
        if not ready:
            raise UnsupportedSpec(f"the tasks {sorted(needs)} depend on each other in a cycle")
        order.append(ready[0])
        del needs[ready[0]]
    return order


def parameters(task: dict, runtime_values: dict) -> dict:
    """The step's parameter values: constants, and runtime parameters from the run's ``runtime_values``."""
    values = {}
    for key, parameter in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in parameter:
            values[key] = parameter["runtimeValue"]["constant"]
        elif "componentInputParameter" in parameter:
            values[key] = runtime_values[parameter["componentInputParameter"]]
        else:
            raise UnsupportedSpec(f"parameter {key} comes from {sorted(parameter)}")
    return values


def input_artifacts(task: dict, component: dict, outputs: dict, kfp: bool = False) -> dict:
    """The step's input artifacts, ``{key: [runtime artifact]}``, from what each producing step recorded.

    Vertex AI types each as its component declares; KFP's driver reads them back from ML Metadata
    with an empty schema (``backend/src/v2/metadata/client.go``, ``GetOutputArtifactsByExecutionId``).
    """
    declared = component.get("inputDefinitions", {}).get("artifacts", {})
    inputs = {}
    for key, channel in task.get("inputs", {}).get("artifacts", {}).items():
        if "taskOutputArtifact" not in channel:
            raise UnsupportedSpec(f"input artifact {key} comes from {sorted(channel)}")
        source = channel["taskOutputArtifact"]
        items = outputs[source["producerTask"]][source["outputArtifactKey"]]
        kind = KFP_INPUT_TYPE if kfp else declared[key]["artifactType"]
        inputs[key] = [{**item, "type": kind} for item in items]
    return inputs


def executor_input(component: dict, inputs: dict, values: dict, task_root: str, kfp: bool = False) -> dict:
    """The ``ExecutorInput`` JSON of a step: its inputs, and an artifact per declared output under ``task_root``.

    KFP 2.5 and later also provision the launcher's own ``executor-logs`` output, and 2.15 and later
    put the output file next to the outputs (``backend/src/v2/driver/driver.go``, ``provisionOutputs``).
    """
    definitions = component.get("outputDefinitions", {})
    if definitions.get("parameters"):
        raise UnsupportedSpec(f"output parameters {sorted(definitions['parameters'])}")
    declared = {key: d["artifactType"] for key, d in definitions.get("artifacts", {}).items()}
    if kfp:
        declared[EXECUTOR_LOGS] = {"schemaTitle": LOGS_TITLE}
    outputs = {
        key: {"artifacts": [{"name": key, "uri": os.path.join(task_root, key), "type": kind}]}
        for key, kind in declared.items()
    }
    return {
        "inputs": {"parameterValues": values, "artifacts": {k: {"artifacts": v} for k, v in inputs.items()}},
        "outputs": {"artifacts": outputs, "outputFile": os.path.join(task_root, OUTPUT_FILE)},
    }


def command_line(container: dict, invocation: dict) -> list:
    """The step's command and args with ``{{$}}`` filled in, ``python`` being this interpreter."""
    argv = [*container["command"], *container.get("args", [])]
    unknown = [arg for arg in argv if "{{$" in arg.replace(WHOLE_INPUT, "")]
    if unknown:
        raise UnsupportedSpec(f"placeholders other than {WHOLE_INPUT}: {unknown}")
    text = json.dumps(invocation)
    argv = [arg.replace(WHOLE_INPUT, text) for arg in argv]
    return [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]


def failure_line(log_path: str, status: int) -> str:
    """The last exception a failed step's log names (its traceback's final line), else its exit status."""
    with open(log_path, errors="replace") as f:
        lines = f.read().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts:
        for line in lines[starts[-1] + 1 :]:
            if line.strip() and not line.startswith((" ", "\t")):
                return line.strip()
    return f"exited with status {status}"


def read_output(invocation: dict, log_path: str) -> dict:
    """The step's output artifacts, ``{key: [runtime artifact]}``, with its ExecutorOutput's URIs and metadata.

    As KFP's launcher merges them (``component/launcher_v2.go``, ``uploadOutputArtifacts``): only each
    provisioned output's URI and metadata change. The launcher's own ``executor-logs`` gets the log.
    """
    path = invocation["outputs"]["outputFile"]
    written = {}
    if os.path.exists(path):  # a step may write none: its outputs are then as provisioned
        with open(path) as f:
            written = json.load(f).get("artifacts", {})
    outputs = {}
    for key, provisioned in invocation["outputs"]["artifacts"].items():
        artifact = dict(provisioned["artifacts"][0], metadata=dict(provisioned["artifacts"][0].get("metadata", {})))
        for update in written.get(key, {}).get("artifacts", [])[:1]:
            artifact["uri"] = update.get("uri") or artifact["uri"]
            artifact["metadata"].update(update.get("metadata", {}))
        artifact.pop("name")  # an output gets its name (its MLMD id) when it is recorded
        outputs[key] = [artifact]
    if EXECUTOR_LOGS in outputs:
        os.makedirs(os.path.dirname(outputs[EXECUTOR_LOGS][0]["uri"]), exist_ok=True)
        shutil.copyfile(log_path, outputs[EXECUTOR_LOGS][0]["uri"])
    return outputs


def cache_key(container: dict, values: dict, inputs: dict, outputs: dict) -> str:
    """KFP 2's cache key of a step (``backend/src/v2/cacheutils/cache.go``, ``GenerateCacheKey``).

    A ``CacheKey`` message of the input artifacts' names (their ML Metadata ids), the resolved
    parameter values, each output artifact's name and type as provisioned, and the container's image
    and command with its arguments, placeholders unresolved; serialized with protojson, re-marshalled
    by Go's encoding/json (keys sorted, compact, ``<``, ``>`` and ``&`` escaped) and hashed with SHA-256.
    The run, the task's name and the pipeline root are not in it.
    """
    key = {
        "inputArtifactNames": {k: {"artifactNames": [a["name"] for a in items]} for k, items in inputs.items()},
        "outputArtifactsSpec": {
            k: {"name": k, "type": holder["artifacts"][0]["type"]} for k, holder in outputs["artifacts"].items()
        },
        "containerSpec": {
            "image": container.get("image", ""),
            "cmdArgs": [*container["command"], *container.get("args", [])],
        },
        "inputParameterValues": values,
    }
    text = json.dumps(_without_empty(key), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for character, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(character, escaped)
    return hashlib.sha256(text.encode()).hexdigest()


def _without_empty(value):
    """``value`` without the empty maps, lists and strings protojson leaves out."""
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [], "")}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value
