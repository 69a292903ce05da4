"""``python -m cloud.preflight``: the compiled job, run task by task on this machine as Vertex AI or KFP 2 runs it.

Two module fixtures on the 8x8 digits. ``vertex`` compiles a cloud config that uses every Google
Cloud service (Vertex Training for a parallel Tuner and a two-replica Trainer, Dataflow, a Vertex
endpoint) and runs it once as Vertex AI does. ``kfp`` compiles for Kubeflow Pipelines 2 and runs it
three times as KFP's backend does (no pre-cache-check driver, untyped inputs, its cache key and
ML Metadata layout): the first run pushes with no baseline, the second is evaluated against the
first's pushed model, the third follows new data files. Every task runs in its own process.
"""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import types

import httpx
import pytest
from conftest import CLOUD_BASE, PROJECT_ROOT

from benchmarks.service_process import ServiceProcess
from cloud import compiler
from cloud.preflight import main as preflight
from cloud.preflight import standins
from data import prepare
from data.layout import DATA_FINGERPRINT
from inspection import command_line, history
from inspection.store import open_store
from pipeline import evaluation

PIPELINE = "digits-convnet"
# The tests of the three Kubeflow runs form their own xdist group, so they run beside the Vertex ones.
KFP_RUNS = pytest.mark.xdist_group("preflight-kfp")
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


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    """One preflight of the job compiled for Vertex AI, started by ``make preflight``."""
    place = preflight_root(tmp_path_factory, "vertex", VERTEX_CLOUD, prepared=False)
    return opened(place, [invoke_make(place)])


@pytest.fixture(scope="module")
def kfp(tmp_path_factory):
    """Three preflights of the job compiled for Kubeflow Pipelines 2; new data files before the third."""
    place = preflight_root(tmp_path_factory, "kfp", CLOUD_BASE)
    argv = [*place.argv, "--target", "kfp"]
    first, second = invoke(argv), invoke(argv)
    (shard,) = [name for name in os.listdir(place.data) if name.endswith(".tfrecord")]
    shutil.copy(os.path.join(place.data, shard), os.path.join(place.data, "more-" + shard))
    return opened(place, [first, second, invoke(argv)])


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


def test_the_vertex_preflight_runs_every_task_blesses_and_pushes_locally(vertex):
    [run] = vertex.runs
    assert run.code == 0, run.err
    tasks = vertex.job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(EVERY_STEP)
    for task in tasks:  # a line for each task's end
        assert f"\n  {task} COMPLETE in " in run.out
    assert run_states(vertex, run.run_id) == dict.fromkeys(EVERY_STEP, "COMPLETE")
    assert "  test accuracy " in run.out and "(no baseline yet)" in run.out and "  blessed        yes" in run.out
    pushed = task_output(vertex, run.run_id, "Pusher", "pushed_model")["metadata"]
    assert pushed["pushed"] == 1 and os.path.isfile(os.path.join(pushed["pushed_destination"], "saved_model.pb"))
    assert f"  pushed         version {pushed['pushed_version']} to {pushed['pushed_destination']}" in run.out
    # Vertex AI runs ImportExampleGen's driver, which fingerprints the input files into its parameters.
    assert parameters(vertex, run.run_id, "ImportExampleGen")["input_fingerprint"].startswith("split:")


def test_what_needs_google_cloud_runs_in_the_step_and_nothing_else_changes(vertex):
    out = vertex.runs[0].out
    assert "stand-in       Tuner: Vertex Training -> runs in its step (cloud.executors.Tuner)" in out
    assert "stand-in       Trainer: Vertex Training -> runs in its step (cloud.executors.Trainer)" in out
    served = vertex.folder / "root" / "serving" / PIPELINE  # the endpoint's copy, moved with the root
    assert f"Pusher: pushes to {served} instead of the endpoint, in its step" in out
    assert "stand-in       Dataflow -> Beam's DirectRunner in the step: " in out
    compiled = compiler.reroot(vertex.job, str(vertex.folder / "root"))
    local, _ = standins.stand_in(compiled, str(vertex.folder / "serving"))
    executors = compiled["pipelineSpec"]["deploymentSpec"]["executors"]
    for label, executor in local["pipelineSpec"]["deploymentSpec"]["executors"].items():
        container, original = executor["container"], executors[label]["container"]
        assert (container["command"], container["image"]) == (original["command"], original["image"])
        flags, beam = standins.split_args(original["args"])
        assert "--runner=DataflowRunner" in beam
        assert container["args"] == [flags[0], standins.IN_STEP.get(flags[1], (flags[1],))[0], *flags[2:]]
    tasks = compiled["pipelineSpec"]["root"]["dag"]["tasks"]
    for name, task in local["pipelineSpec"]["root"]["dag"]["tasks"].items():
        parameters, original = task.get("inputs", {}).get("parameters", {}), tasks[name].get("inputs", {})
        changed = {key for key, value in parameters.items() if value != original.get("parameters", {}).get(key)}
        assert changed == {"Pusher": {"push_destination"}, "ImportSchemaGen": {"schema_file"}}.get(name, set())


def test_compile_time_paths_follow_the_pipeline_root(vertex):
    compiled = json.dumps(vertex.job["pipelineSpec"])
    for path in ("Tuner/tensorboard", "Trainer/backup", "tmp", f"serving/{PIPELINE}"):
        assert f"{CLOUD_BASE['pipeline_root']}/{path}" in compiled
    executions = {e.custom_properties["task_name"].string_value: e for e in vertex.store.get_executions()}
    local_root = str(vertex.folder / "root")
    for task, key, path in (
        ("Tuner", "tensorboard_dir", "Tuner/tensorboard"),
        ("Trainer", "checkpoint_dir", "Trainer/backup"),
    ):
        custom_config = executions[task].custom_properties["inputs"].struct_value["custom_config"]
        assert json.loads(custom_config)[key] == f"{local_root}/{path}"
    assert (
        parameters(vertex, vertex.runs[0].run_id, "BaselineFinder")["serving_dir"] == f"{local_root}/serving/{PIPELINE}"
    )
    assert os.listdir(os.path.join(local_root, "Tuner", "tensorboard"))  # the trials' logs


def test_the_published_metrics_hold_the_evaluation(vertex):
    run_id = vertex.runs[0].run_id
    metrics = task_output(vertex, run_id, "MetricsPublisher", "metrics")["metadata"]
    candidate, baseline = evaluation.read_evaluation(task_output(vertex, run_id, "Evaluator", "evaluation")["uri"])
    assert baseline is None and "baseline_accuracy" not in metrics
    assert metrics["accuracy"] == pytest.approx(candidate["overall"]["sparse_categorical_accuracy"])
    assert metrics["example_count"] == candidate["overall"]["example_count"] == 170 and metrics["blessed"] == 1.0
    for label in range(10):
        by_label = candidate["by_label"][label]["sparse_categorical_accuracy"]
        assert metrics[f"accuracy_class_{label}"] == pytest.approx(by_label)
    matrix = task_output(vertex, run_id, "MetricsPublisher", "classification")["metadata"]["confusionMatrix"]
    assert [spec["displayName"] for spec in matrix["annotationSpecs"]] == [str(label) for label in range(10)]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 170
    correct = sum(row["row"][i] for i, row in enumerate(matrix["rows"]))
    assert correct / 170 == pytest.approx(metrics["accuracy"])


@KFP_RUNS
def test_kfp_runs_without_the_driver_and_records_its_own_logs_output(kfp):
    first = kfp.runs[0]
    assert first.code == 0, first.err
    assert run_states(kfp, first.run_id) == dict.fromkeys(EVERY_STEP, "COMPLETE")
    assert "(no baseline yet)" in first.out and "  blessed        yes" in first.out
    assert "input_fingerprint" not in parameters(kfp, first.run_id, "ImportExampleGen")  # no preCacheCheck on KFP
    logs = task_output(kfp, first.run_id, "Trainer", "executor-logs")
    assert os.path.getsize(logs["uri"]) > 0  # KFP's launcher keeps each step's output
    # Each step ran the image's entrypoint wrapper (the compiled command) in a task folder of KFP's layout.
    trainer = task_output(kfp, first.run_id, "Trainer", "model")["uri"]
    assert os.path.relpath(trainer, kfp.folder / "root").split(os.sep)[:2] == [PIPELINE, first.run_id]
    assert len(os.path.relpath(trainer, kfp.folder / "root").split(os.sep)) == 5  # <run>/<task>/<uuid>/<key>


@KFP_RUNS
def test_the_second_kfp_run_is_evaluated_against_the_first_runs_pushed_model(kfp):
    first, second = kfp.runs[0], kfp.runs[1]
    assert second.code == 0, second.err
    expected = {**dict.fromkeys(DATA_STAGE + TRAINING, "CACHED"), **dict.fromkeys(EVALUATION, "COMPLETE")}
    assert run_states(kfp, second.run_id) == expected
    pushed = task_output(kfp, first.run_id, "Pusher", "pushed_model")["metadata"]
    found = task_output(kfp, second.run_id, "BaselineFinder", "baseline")["metadata"]
    assert found["found"] == 1 and found["pushed_version"] == pushed["pushed_version"]
    metrics = task_output(kfp, second.run_id, "MetricsPublisher", "metrics")["metadata"]
    assert f"(baseline {metrics['baseline_accuracy']:.4f})" in second.out
    assert metrics["baseline_accuracy"] == pytest.approx(metrics["accuracy"])  # the same, cached model
    # Pushed once: the second run names the version the first one pushed.
    again = task_output(kfp, second.run_id, "Pusher", "pushed_model")["metadata"]
    assert again["pushed_version"] == pushed["pushed_version"]
    # The serving folder holds the first run's version and the third's (new data), none of the second's.
    third = task_output(kfp, kfp.runs[2].run_id, "Pusher", "pushed_model")["metadata"]
    versions = {pushed["pushed_version"], third["pushed_version"]}
    assert len(versions) == 2 and set(os.listdir(os.path.dirname(pushed["pushed_destination"]))) == versions


@KFP_RUNS
def test_new_data_files_rerun_importexamplegen_and_everything_after_it_on_kfp(kfp):
    second, third = kfp.runs[1], kfp.runs[2]
    assert third.code == 0, third.err
    # Everything downstream of the examples runs again; the imported schema does not depend on them.
    assert run_states(kfp, third.run_id) == {**dict.fromkeys(EVERY_STEP, "COMPLETE"), "ImportSchemaGen": "CACHED"}

    fingerprints = [parameters(kfp, run.run_id, "ImportExampleGen")[DATA_FINGERPRINT] for run in (second, third)]
    assert fingerprints[0] and fingerprints[0] != fingerprints[1]
    counts = task_output(kfp, third.run_id, "MetricsPublisher", "metrics")["metadata"]["example_count"]
    assert counts > 170  # the copied file's examples are in the new splits


@KFP_RUNS
def test_the_web_ui_reads_the_preflight_store_in_kfps_layout(kfp, tmp_path):
    store = ["--metadata-path", str(kfp.folder / "metadata.db"), "--pipeline-name", PIPELINE, "--no-serve-model"]
    ui = ServiceProcess(
        lambda port: [sys.executable, "-m", "ui", "--port", str(port), *store], str(tmp_path / "ui.log"), "/"
    )
    with ui:
        runs = httpx.get(ui.url, timeout=120).text
        first = kfp.runs[0].run_id
        page = httpx.get(f"{ui.url}/runs/{first}", params={"component": "Trainer"}, timeout=120)
    assert all(f'data-run="{run.run_id}"' in runs for run in kfp.runs)
    assert "data_root=" in runs  # a KFP run's runtime parameters stand in for flags
    assert page.status_code == 200
    nodes = set(re.findall(r'<a class="node" href="[^"]*" data-node="([^"]+)"', page.text))
    assert nodes == set(EVERY_STEP)  # the DAG, drawn from the artifacts' events
    trained = task_output(kfp, first, "Trainer", "model")
    assert trained["uri"] in page.text  # the component's outputs


@KFP_RUNS
def test_inspect_reads_the_preflight_store_in_kfps_layout(kfp, capsys):
    store = ["--metadata-path", str(kfp.folder / "metadata.db"), "--pipeline-name", PIPELINE]
    assert command_line.main(["metrics", "--run", kfp.runs[1].run_id, "--json", *store]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["blessing"]["blessed"] and data["metrics"]["split"] == "test"
    assert data["published"]["accuracy"] == pytest.approx(data["metrics"]["overall"]["sparse_categorical_accuracy"])
    assert data["metrics"]["baseline"] is not None


@KFP_RUNS
def test_tfxs_own_entrypoint_fails_where_kfps_launcher_runs_it(kfp, tmp_path):
    job = json.loads(json.dumps(kfp.job))
    for executor in job["pipelineSpec"]["deploymentSpec"]["executors"].values():
        executor["container"]["command"] = ["python", "-m", compiler.TFX_ENTRYPOINT]
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps(job))
    argv = ["--spec", str(spec), "--target", "kfp", "--output-root", str(tmp_path)]
    result = invoke([*argv, "--param", f"data_root={kfp.data}"])
    assert result.code == 1 and "ImportError: Could not import system.Artifact" in result.err, result.err


def broken_spec(place, tmp_path, task: str, key: str, change) -> str:
    """The compiled job with one parameter of ``task`` changed by ``change``, as a file."""
    job = json.loads(json.dumps(place.job))
    parameter = job["pipelineSpec"]["root"]["dag"]["tasks"][task]["inputs"]["parameters"][key]["runtimeValue"]
    parameter["constant"] = change(parameter["constant"])
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(job))
    return str(path)


def test_a_module_that_does_not_import_fails_the_preflight_naming_the_task(vertex, tmp_path):
    spec = broken_spec(vertex, tmp_path, "Transform", "preprocessing_fn", lambda _: "models.missing.preprocessing_fn")
    result = invoke(["--spec", spec, "--output-root", str(vertex.root), "--param", f"data_root={vertex.data}"])
    assert result.code == 1 and result.err.count("\n") == 1
    assert result.err.startswith(
        "cloud.preflight: error: task Transform failed: ModuleNotFoundError: No module named 'models.missing' (log: "
    ), result.err
    assert run_states(vertex, result.run_id)["Transform"] == "FAILED"


def test_a_job_that_would_still_reach_google_cloud_is_refused_before_anything_runs(vertex):
    result = invoke(["--spec", str(vertex.folder / "pipeline.json"), "--output-root", str(vertex.root)])
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"cloud.preflight: error: runtime parameter data_root is {CLOUD_BASE['data_root']}, on Google Cloud Storage, "
        "which the preflight does not reach: give a local copy (--param NAME=DIR for a runtime parameter)\n"
    )
