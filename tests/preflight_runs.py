"""The preflight's test harness, shared by test_preflight.py (Vertex AI) and test_preflight_kfp.py (Kubeflow
Pipelines 2): two files, so pytest-xdist runs their module runs side by side (``--dist loadfile``).

Every task of a preflight runs in its own process, as in the container each gets on the platform.
"""

import contextlib
import io
import json
import subprocess
import types

from conftest import CLOUD_BASE, PROJECT_ROOT

from cloud.preflight import main as preflight
from data import prepare
from inspection import history
from inspection.store import open_store

PIPELINE = "digits-convnet"
VERTEX_CLOUD = {**CLOUD_BASE, "trainer_replicas": 2, "tuner_parallel_trials": 2, "endpoint": "digits-test"}
DATA_STAGE = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "AnomaliesGate"]
TRAINING = ["Transform", "Tuner", "Trainer"]
EVALUATION = ["BaselineFinder", "Evaluator", "MetricsPublisher", "Pusher"]
EVERY_STEP = DATA_STAGE + TRAINING + EVALUATION


def invoke(argv: list) -> types.SimpleNamespace:
    """Runs the preflight in this process; its tasks run in their own processes, their output in log files."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = preflight.main(argv)
    lines = out.getvalue().splitlines()
    run_id = lines[0].split()[1] if lines and lines[0].startswith("Preflight ") else ""
    return types.SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue(), run_id=run_id)


def invoke_make(place: types.SimpleNamespace) -> types.SimpleNamespace:
    """``make preflight`` as the README gives it: it prepares the digits under the output root, then runs."""
    done = subprocess.run(
        ["make", "-s", "-C", PROJECT_ROOT, "preflight", f"OUTPUT_ROOT={place.root}", f"CLOUD_CONFIG={place.config}"],
        capture_output=True,
        text=True,
    )
    (run_id,) = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("Preflight ")][:1] or [""]
    return types.SimpleNamespace(code=done.returncode, out=done.stdout, err=done.stderr, run_id=run_id)


def preflight_root(tmp_path_factory, name: str, cloud: dict, prepared: bool = True) -> types.SimpleNamespace:
    root = tmp_path_factory.mktemp(name)
    data = str(root / "data" / "digits")  # where `make preflight` prepares them
    if prepared:
        prepare.prepare("digits", data)
    config = root / "cloud.json"
    config.write_text(json.dumps(cloud))
    argv = ["--cloud-config", str(config), "--output-root", str(root), "--param", f"data_root={data}"]
    return types.SimpleNamespace(root=root, data=data, config=config, argv=argv, folder=root / "preflight" / PIPELINE)


def opened(place: types.SimpleNamespace, runs: list) -> types.SimpleNamespace:
    with open(place.folder / "pipeline.json") as f:
        job = json.load(f)
    return types.SimpleNamespace(**vars(place), job=job, store=open_store(str(place.folder / "metadata.db")), runs=runs)


def run_states(place, run_id: str) -> dict:
    """Each recorded step of a run, by task name, with its final state."""
    return history.get_run(place.store, PIPELINE, run_id).states()


def parameters(place, run_id: str, task: str) -> dict:
    """The parameter values a task's step was recorded with (KFP's ``inputs``), by name."""
    ids = [e.id for e in history.get_run(place.store, PIPELINE, run_id).executions]
    for execution in place.store.get_executions_by_id(ids):
        if execution.custom_properties["task_name"].string_value == task:
            inputs = execution.custom_properties["inputs"].struct_value
            return {key: inputs[key] for key in inputs}
    raise AssertionError(f"no {task} in run {run_id}")


def task_output(place, run_id: str, task: str, key: str) -> dict:
    """A task's output artifact ``key`` as recorded in the run's store (what the next step gets)."""
    for artifact in history.run_artifacts(place.store, PIPELINE, run_id):
        if artifact.node == task and artifact.key == key:
            return {"uri": artifact.uri, "metadata": artifact.properties}
    raise AssertionError(f"{task} has no output {key} in run {run_id}")
