"""The preflight's run: every task of a compiled job in dependency order, as KFP's driver and launcher run them.

A container task gets its ExecutorInput (cloud/preflight/executor_input.py), runs its pre-cache-check driver if it
has one, is looked up in the cache by KFP's key and otherwise runs its executor's command; a
resolver or importer task is answered from the store (cloud/preflight/queries.py). Every step is recorded in
the run's KFP-layout store (cloud/preflight/kfp_store.py). ``cloud/preflight.py`` prepares the job and prints.
"""

import dataclasses
import json
import os
import time
import uuid
from typing import Optional

from cloud.preflight import executor_input, queries, task_processes
from cloud.preflight import kfp_store as store_lib


class PreflightFailed(RuntimeError):
    """A task failed, or asks for something the preflight cannot stand in for; the message names it."""


@dataclasses.dataclass
class Run:
    """One preflight run: where it writes, what each task produced and how it ended."""

    job: dict
    store: store_lib.KfpStore
    run_id: str
    folder: str
    parameter_values: dict
    caching: bool
    # "vertex" or "kfp": whose driver and launcher the steps get (cloud/compiler.py TARGETS).
    target: str = "vertex"
    outputs: dict = dataclasses.field(default_factory=dict)
    states: dict = dataclasses.field(default_factory=dict)
    # Where each task's process comes from; execute() sets it for the run's length.
    processes: Optional[task_processes.TaskProcesses] = None

    @property
    def root(self) -> str:
        """This run's folder of task outputs, under the local pipeline root (KFP: <root>/<pipeline>/<run id>)."""
        return os.path.join(self.job["runtimeConfig"]["gcsOutputDirectory"], self.store.pipeline.name, self.run_id)

    @property
    def log_dir(self) -> str:
        """Where each task's log goes (``<task>.log``)."""
        return os.path.join(self.folder, "logs", self.run_id)

    def artifacts_of(self, title: str) -> list:
        """The run's output artifacts whose type has schema title ``title`` (e.g. ``system.Metrics``)."""
        spec = self.job["pipelineSpec"]
        found = []
        for task, outputs in self.outputs.items():
            component = spec["components"][spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]]
            found += [
                a for key, t in queries.output_types(component).items() if t == title for a in outputs.get(key, [])
            ]
        return found


def _driver(run: Run, name: str, pre: dict, invocation: dict, values: dict, log: str) -> dict:
    """Runs the step's pre-cache-check driver (ImportExampleGen's span and fingerprint), as Vertex AI does.

    Returns the parameter values the cache key covers; the driver's artifact metadata goes into
    the outputs the executor gets, as the service updates the task's artifacts.
    """
    status = run.processes.run(executor_input.command_line(pre, invocation), log)
    if status:
        raise PreflightFailed(
            f"task {name} (its driver) failed: {executor_input.failure_line(log, status)} (log: {log})"
        )
    with open(invocation["outputs"]["outputFile"]) as f:
        written = json.load(f)
    for key, update in written.get("artifacts", {}).items():
        for artifact in invocation["outputs"]["artifacts"][key]["artifacts"][:1]:
            artifact.setdefault("metadata", {}).update(update["artifacts"][0].get("metadata", {}))
    return {**values, **written.get("parameterValues", {})}


def task_root(run: Run, name: str) -> str:
    """Where a task writes: ``<run root>/<task>`` on Vertex AI's layout, ``.../<task>/<a uuid>`` on KFP's."""
    folder = os.path.join(run.root, name)
    return os.path.join(folder, uuid.uuid4().hex) if run.target == "kfp" else folder


def container_step(run: Run, name: str, task: dict, component: dict, container: dict) -> tuple:
    """Runs one container task, or takes its outputs from the cache; returns (state, outputs).

    On KFP, inputs come untyped, the launcher's logs are an output, and no pre-cache-check driver
    runs: KFP never reads ``lifecycle`` (BUILD_NOTES.md, "Kubeflow Pipelines 2").
    """
    kfp = run.target == "kfp"
    inputs = executor_input.input_artifacts(task, component, run.outputs, kfp=kfp)
    values = executor_input.parameters(task, run.parameter_values)
    invocation = executor_input.executor_input(component, inputs, values, task_root(run, name), kfp=kfp)
    log = os.path.join(run.log_dir, f"{name}.log")
    pre = None if kfp else container.get("lifecycle", {}).get("preCacheCheck")
    keyed = _driver(run, name, pre, invocation, values, log) if pre else values
    key = executor_input.cache_key(container, keyed, inputs, invocation["outputs"])
    types = {**queries.output_types(component), executor_input.EXECUTOR_LOGS: executor_input.LOGS_TITLE}
    properties = {"image": container.get("image", ""), "cache_fingerprint": key}
    execution = run.store.start_step(name, store_lib.KFP.container_execution, inputs, keyed, properties)
    hit = run.store.cached_outputs(key) if run.caching and task.get("cachingOptions", {}).get("enableCache") else None
    if hit:
        outputs, original = hit
        return "CACHED", run.store.end_step(execution, "CACHED", outputs, types, cached_execution_id=str(original))
    status = run.processes.run(executor_input.command_line(container, invocation), log)
    outputs = executor_input.read_output(invocation, log)
    if status:
        run.store.end_step(execution, "FAILED", {}, types)
        raise PreflightFailed(f"task {name} failed: {executor_input.failure_line(log, status)} (log: {log})")
    try:
        return "COMPLETE", run.store.end_step(execution, "COMPLETE", outputs, types)
    except store_lib.UnsupportedValue as err:
        run.store.end_step(execution, "FAILED", {}, types)
        raise PreflightFailed(f"task {name}: KFP's launcher would refuse its outputs: {err}") from err


def run_task(run: Run, name: str) -> tuple:
    """Runs task ``name`` as the backend would: a query, an import or a container; returns (state, outputs)."""
    spec = run.job["pipelineSpec"]
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
    if "resolver" in executor:
        inputs = executor_input.input_artifacts(task, component, run.outputs)
        return "RESOLVED", queries.resolve(run.store, executor["resolver"], inputs)
    if "importer" in executor:
        types = queries.output_types(component)
        [key] = types
        artifact = queries.import_artifact(run.store, executor["importer"], run.parameter_values)
        execution = run.store.start_step(name, "system.ImporterExecution", {}, {}, {})
        return "COMPLETE", run.store.end_step(execution, "COMPLETE", {key: [artifact]}, types)
    return container_step(run, name, task, component, executor["container"])


def _resolved(outputs: dict) -> str:
    """What a resolver task found, e.g. ``model 12`` or ``nothing``."""
    found = [f"{key} {a['name']}" for key, items in outputs.items() for a in items]
    return ", ".join(found) or "nothing"


def execute(run: Run) -> None:
    """Runs every task in dependency order, a line as each starts and ends; ``PreflightFailed`` on a failure."""
    run.store.start_run(run.run_id, run.root, run.parameter_values)
    order = executor_input.task_order(run.job["pipelineSpec"])
    with task_processes.TaskProcesses(run.log_dir) as run.processes:
        for name in order:
            _execute_task(run, name)
    run.store.finish_run("COMPLETE")


def _execute_task(run: Run, name: str) -> None:
    """Runs one task between its two console lines; ``PreflightFailed`` (the run marked FAILED) on a failure."""
    print(f"  {name} ...", flush=True)
    started = time.monotonic()
    try:
        state, run.outputs[name] = run_task(run, name)
    except queries.UnsupportedSpec as err:
        run.store.finish_run("FAILED")
        raise PreflightFailed(f"task {name}: no local stand-in for {err}") from err
    except task_processes.TaskServerError as err:
        run.store.finish_run("FAILED")
        raise PreflightFailed(f"task {name}: {err}") from err
    except PreflightFailed:
        run.store.finish_run("FAILED")
        raise
    run.states[name] = state
    detail = f": {_resolved(run.outputs[name])}" if state == "RESOLVED" else ""
    print(f"  {name} {state} in {time.monotonic() - started:.1f} s{detail}", flush=True)
