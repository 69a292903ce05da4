"""What the preflight changes in a compiled job so it runs on this machine, and nothing else.

Three kinds of change, each listed to the user: a service that needs Google Cloud runs in the
step instead (Vertex Training for Tuner and Trainer, Dataflow for the Beam-powered components, a
Vertex AI endpoint for the Pusher); paths inside the pipeline image (``/pipeline/...``) name this
checkout, which is what the image holds; and a ``gs://`` serving folder outside the pipeline root
becomes a local folder. The pipeline root itself is moved by ``compiler.reroot``, as ``submit
--pipeline-root`` moves it. Whatever else names ``gs://`` afterwards is reported by
``cloud_paths``: the preflight refuses to run a spec that would reach Google Cloud.
"""

import copy
import json
import os

from cloud import cloud_config as cloud_lib
from pipeline.config import PROJECT_ROOT

VERTEX_PUSHER = "cloud.executors.VertexPusher"
# The executor a step names when its work leaves the machine -> TFX's (checked) executor that does it in the step.
IN_STEP = {
    "cloud.executors.VertexTuner": ("cloud.executors.Tuner", "Vertex Training"),
    "cloud.executors.VertexTrainer": ("cloud.executors.Trainer", "Vertex Training"),
    VERTEX_PUSHER: ("pipeline.baseline.PushOnce", "a Vertex AI endpoint"),
}
# The entrypoint's own flags, each with a value; whatever follows them is Beam's (kubeflow_v2_run_executor).
ENTRYPOINT_FLAGS = ("--executor_class_path", "--json_serialized_invocation_args", "--json_serialized_inputs_spec_args")
DATAFLOW = "--runner=DataflowRunner"
CLASS_FLAG = "--executor_class_path"
PUSH_DESTINATION, CUSTOM_CONFIG = "push_destination", "custom_config"
# The baseline finder's parameter, and the Vertex Pusher's custom_config key, naming the serving folder.
SERVING_DIR_KEY = "serving_dir"
GS = "gs://"


def split_args(args: list) -> tuple:
    """(the entrypoint's flags with their values, the Beam args after them)."""
    index = 0
    while index < len(args) and args[index] in ENTRYPOINT_FLAGS:
        index += 2
    return args[:index], args[index:]


def _local_beam(container: dict) -> bool:
    """Drops Dataflow's Beam args from the step and its driver (Beam then runs in the step); True if it did."""
    changed = False
    for holder in (container, container.get("lifecycle", {}).get("preCacheCheck", {})):
        flags, beam = split_args(holder.get("args", []))
        if DATAFLOW in beam:
            holder["args"], changed = flags, True
    return changed


def _executor_class(container: dict):
    """The step's (executor class flag index, class path), or (None, "") for a step without one."""
    args = container.get("args", [])
    index = args.index(CLASS_FLAG) + 1 if CLASS_FLAG in args else None
    return index, args[index] if index is not None else ""


def _constant(parameters: dict, key: str, default: str) -> str:
    return parameters.get(key, {}).get("runtimeValue", {}).get("constant", default)


def _local_push(parameters: dict, serving_dir: str) -> str:
    """Points a Pusher at a local folder when it would push to gs:// or to an endpoint; the old target.

    A Pusher to an endpoint keeps a copy in its serving folder (``cloud.executors.VertexPusher``),
    which is where the baseline is found: it pushes there when that folder is local (moved with
    the root), else to ``serving_dir``, as a Pusher to a gs:// folder outside the root does.
    """
    destination = json.loads(_constant(parameters, PUSH_DESTINATION, "null")) or {}
    target = destination.get("filesystem", {}).get("base_directory", "")
    if target and not target.startswith(GS):
        return ""
    local = serving_dir
    if not target:
        copy = json.loads(_constant(parameters, CUSTOM_CONFIG, "{}") or "{}").get(SERVING_DIR_KEY, "")
        local = copy if copy and not copy.startswith(GS) else serving_dir
    parameters[PUSH_DESTINATION] = {"runtimeValue": {"constant": json.dumps({"filesystem": {"base_directory": local}})}}
    return target or "the endpoint"


def _local_finder(parameters: dict, serving_dir: str) -> bool:
    """Points the baseline finder at ``serving_dir`` when it would read gs:// outside the root; True if it did."""
    if not _constant(parameters, SERVING_DIR_KEY, "").startswith(GS):
        return False
    parameters[SERVING_DIR_KEY] = {"runtimeValue": {"constant": serving_dir}}
    return True


def _image_paths(parameters: dict) -> bool:
    """Makes constant paths into the pipeline image name this checkout instead; True if any did."""
    prefix, changed = cloud_lib.IMAGE_PROJECT_ROOT + "/", False
    for parameter in parameters.values():
        value = parameter.get("runtimeValue", {}).get("constant")
        if isinstance(value, str) and value.startswith(prefix):
            parameter["runtimeValue"]["constant"] = os.path.join(PROJECT_ROOT, value[len(prefix) :])
            changed = True
    return changed


def stand_in(job: dict, serving_dir: str) -> tuple:
    """(a copy of ``job`` that runs here, one line per change made); pushes that would leave go to ``serving_dir``."""
    job = copy.deepcopy(job)
    spec = job["pipelineSpec"]
    executors = spec["deploymentSpec"]["executors"]
    notes, dataflow, image = [], [], []
    for name, task in sorted(spec["root"]["dag"]["tasks"].items()):
        executor = executors[spec["components"][task["componentRef"]["name"]]["executorLabel"]]
        container = executor.get("container")
        if container is None:
            continue
        parameters = task.setdefault("inputs", {}).setdefault("parameters", {})
        index, class_path = _executor_class(container)
        where = ""
        if class_path in IN_STEP:
            container["args"][index], service = IN_STEP[class_path]
            where = f"{service} -> runs in its step ({container['args'][index]})"
        if PUSH_DESTINATION in parameters or class_path == VERTEX_PUSHER:
            target = _local_push(parameters, serving_dir)
            local = json.loads(_constant(parameters, PUSH_DESTINATION, "{}"))["filesystem"]["base_directory"]
            where = f"pushes to {local} instead of {target}, in its step" if target else where
        elif _local_finder(parameters, serving_dir):
            where = f"reads the pushed models in {serving_dir}"
        if where:
            notes.append(f"{name}: {where}")
        if _local_beam(container):
            dataflow.append(name)
        if _image_paths(parameters):
            image.append(name)
    if dataflow:
        notes.append(f"Dataflow -> Beam's DirectRunner in the step: {', '.join(dataflow)}")
    if image:
        notes.append(f"the image's {cloud_lib.IMAGE_PROJECT_ROOT} -> {PROJECT_ROOT} for {', '.join(image)}")
    return job, notes


def cloud_paths(job: dict, parameter_values: dict) -> list:
    """Each ``(where, value)`` in what the steps get that still names gs://: what the preflight cannot stand in for."""
    found = [(f"runtime parameter {k}", v) for k, v in parameter_values.items() if str(v).startswith(GS)]
    spec = job["pipelineSpec"]
    for name, task in sorted(spec["root"]["dag"]["tasks"].items()):
        for key, parameter in sorted(task.get("inputs", {}).get("parameters", {}).items()):
            value = json.dumps(parameter.get("runtimeValue", {}).get("constant", ""))
            if GS in value:
                found.append((f"task {name}, parameter {key}", value))
    for label, executor in sorted(spec["deploymentSpec"]["executors"].items()):
        found += [(f"executor {label}", arg) for arg in executor.get("container", {}).get("args", []) if GS in arg]
    return found
