"""``python -m cloud.preflight``: the compiled Vertex AI / Kubeflow job, run task by task on this machine.

One module-scoped fixture compiles a cloud config that uses every Google Cloud service (Vertex
Training for a parallel Tuner and a two-replica Trainer, Dataflow, a Vertex endpoint) and runs its
preflight twice on the 8x8 digits; the broken-spec tests then reuse that store's cache, so only the
broken task runs. Every task runs through TFX's own v2 container entrypoint, in its own process.
"""

import contextlib
import io
import json
import os
import types

import pytest
from conftest import CLOUD_BASE

from cloud import compiler, preflight
from cloud.preflight import standins
from data import prepare
from inspection import command_line, history
from inspection.store import open_store
from pipeline import evaluation

PIPELINE = "digits-convnet"
CLOUD = {
    **CLOUD_BASE,
    "trainer_replicas": 2,
    "tuner_parallel_trials": 2,
    "endpoint": "digits-test",
}
STEPS_BEFORE_EVALUATION = [
    "ImportExampleGen",
    "ImportSchemaGen",
    "StatisticsGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
    "Tuner",
    "Trainer",
]
STEPS_AFTER = ["Evaluator", "MetricsPublisher", "Pusher"]


def invoke(argv: list) -> types.SimpleNamespace:
    """Runs the preflight in this process; its tasks run in their own processes, their output in log files."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = preflight.main(argv)
    lines = out.getvalue().splitlines()
    run_id = lines[0].split()[1] if lines and lines[0].startswith("Preflight ") else ""
    return types.SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue(), run_id=run_id)


@pytest.fixture(scope="module")
def preflights(tmp_path_factory):
    """Two preflights of the same compiled job on the digits, in one output root; each one's result."""
    root = tmp_path_factory.mktemp("preflight")
    data = str(root / "data")
    prepare.prepare("digits", data)
    config = root / "cloud.json"
    config.write_text(json.dumps(CLOUD))
    argv = ["--cloud-config", str(config), "--output-root", str(root), "--param", f"data_root={data}"]
    first, second = invoke(argv), invoke(argv)
    folder = root / "preflight" / PIPELINE
    with open(folder / "pipeline.json") as f:
        job = json.load(f)
    store = open_store(str(folder / "metadata.db"))
    return types.SimpleNamespace(root=root, data=data, folder=folder, job=job, store=store, first=first, second=second)


def run_states(store, run_id: str) -> dict:
    """Each recorded step of a run, by task name, with its final state."""
    return history.get_run(store, PIPELINE, run_id).states()


def task_output(preflights, run_id: str, task: str, key: str) -> dict:
    """A task's output artifact ``key`` as its ExecutorOutput file (what KFP's launcher reads) has it."""
    path = preflights.folder / "root" / PIPELINE / run_id / task / "executor_output.json"
    with open(path) as f:
        return json.load(f)["artifacts"][key]["artifacts"][0]


def test_the_first_preflight_runs_every_task_blesses_and_pushes_locally(preflights):
    first = preflights.first
    assert first.code == 0, first.err
    tasks = preflights.job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert len(tasks) == 13
    for task in tasks:  # a line for each task's end, in dependency order
        state = "RESOLVED" if task.startswith("latest_blessed_model_resolver") else "COMPLETE"
        assert f"\n  {task} {state} in " in first.out
    assert "latest_blessed_model_resolver-model-resolver RESOLVED in 0.0 s: nothing" in first.out
    assert run_states(preflights.store, first.run_id) == dict.fromkeys(
        STEPS_BEFORE_EVALUATION + STEPS_AFTER, "COMPLETE"
    )
    assert "  blessed        yes" in first.out
    pushed = task_output(preflights, first.run_id, "Pusher", "pushed_model")["metadata"]
    assert pushed["pushed"] == 1 and pushed["pushed_destination"].startswith(str(preflights.folder / "serving"))
    assert os.path.isfile(os.path.join(pushed["pushed_destination"], "saved_model.pb"))
    assert f"  pushed         version {pushed['pushed_version']} to {pushed['pushed_destination']}" in first.out


def test_what_needs_google_cloud_runs_in_the_step_and_nothing_else_changes(preflights):
    out = preflights.first.out
    assert "stand-in       Tuner: Vertex Training -> runs in its step (cloud.executors.Tuner)" in out
    assert "stand-in       Trainer: Vertex Training -> runs in its step (cloud.executors.Trainer)" in out
    assert f"Pusher: pushes to {preflights.folder / 'serving'} instead of the endpoint, in its step" in out
    assert "stand-in       Dataflow -> Beam's DirectRunner in the step: " in out
    compiled = compiler.reroot(preflights.job, str(preflights.folder / "root"))
    local, _ = standins.stand_in(compiled, str(preflights.folder / "serving"))
    executors = compiled["pipelineSpec"]["deploymentSpec"]["executors"]
    for label, executor in local["pipelineSpec"]["deploymentSpec"]["executors"].items():
        if "container" not in executor:
            assert executor == executors[label]  # the resolver queries, as compiled
            continue
        container, original = executor["container"], executors[label]["container"]
        assert (container["command"], container["image"]) == (original["command"], original["image"])
        # The compiled flags, the executor class switched only where the work would leave the machine.
        flags, beam = standins.split_args(original["args"])
        assert "--runner=DataflowRunner" in beam
        assert container["args"] == [flags[0], standins.IN_STEP.get(flags[1], (flags[1],))[0], *flags[2:]]
    tasks = compiled["pipelineSpec"]["root"]["dag"]["tasks"]
    for name, task in local["pipelineSpec"]["root"]["dag"]["tasks"].items():
        parameters, original = task.get("inputs", {}).get("parameters", {}), tasks[name].get("inputs", {})
        changed = {key for key, value in parameters.items() if value != original.get("parameters", {}).get(key)}
        assert changed == {"Pusher": {"push_destination"}, "ImportSchemaGen": {"schema_file"}}.get(name, set())


def test_compile_time_paths_follow_the_pipeline_root(preflights):
    compiled = json.dumps(preflights.job["pipelineSpec"])
    for path in ("Tuner/tensorboard", "Trainer/backup", "tmp"):  # TensorBoard, backups, Dataflow's temp
        assert f"{CLOUD['pipeline_root']}/{path}" in compiled
    # What the steps got, as recorded: the paths under the local root (one left on gs:// would fail them).
    executions = {e.custom_properties["task_name"].string_value: e for e in preflights.store.get_executions()}
    local_root = str(preflights.folder / "root")
    for task, key, path in (
        ("Tuner", "tensorboard_dir", "Tuner/tensorboard"),
        ("Trainer", "checkpoint_dir", "Trainer/backup"),
    ):
        custom_config = executions[task].custom_properties["inputs"].struct_value["custom_config"]
        assert json.loads(custom_config)[key] == f"{local_root}/{path}"
    assert os.listdir(os.path.join(local_root, "Tuner", "tensorboard"))  # the trials' logs


def test_the_published_metrics_hold_the_evaluation(preflights):
    run_id = preflights.first.run_id
    metrics = task_output(preflights, run_id, "MetricsPublisher", "metrics")["metadata"]
    evaluation_uri = task_output(preflights, run_id, "Evaluator", "evaluation")["uri"]
    candidate, baseline = evaluation.read_evaluation(evaluation_uri)
    assert baseline is None and "baseline_accuracy" not in metrics
    assert metrics["accuracy"] == pytest.approx(candidate["overall"]["sparse_categorical_accuracy"])
    assert metrics["example_count"] == candidate["overall"]["example_count"] == 170
    assert metrics["blessed"] == 1.0
    for label in range(10):
        assert metrics[f"accuracy_class_{label}"] == pytest.approx(
            candidate["by_label"][label]["sparse_categorical_accuracy"]
        )
    matrix = task_output(preflights, run_id, "MetricsPublisher", "classification")["metadata"]["confusionMatrix"]
    assert [spec["displayName"] for spec in matrix["annotationSpecs"]] == [str(label) for label in range(10)]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 170
    correct = sum(row["row"][i] for i, row in enumerate(matrix["rows"]))
    assert correct / 170 == pytest.approx(metrics["accuracy"])
    outputs = preflights.job["pipelineSpec"]["components"]["MetricsPublisher"]["outputDefinitions"]["artifacts"]
    assert outputs["metrics"]["artifactType"]["instanceSchema"].startswith("title: system.Metrics\n")


def test_the_second_preflight_takes_the_first_runs_blessed_model_as_baseline(preflights):
    first, second = preflights.first, preflights.second
    assert second.code == 0, second.err
    expected = {**dict.fromkeys(STEPS_BEFORE_EVALUATION, "CACHED"), **dict.fromkeys(STEPS_AFTER, "COMPLETE")}
    assert run_states(preflights.store, second.run_id) == expected
    model = task_output(preflights, first.run_id, "Evaluator", "blessing")["metadata"]["current_model_id"]
    assert f"latest_blessed_model_resolver-model-resolver RESOLVED in 0.0 s: model {model}" in second.out
    blessing = task_output(preflights, second.run_id, "Evaluator", "blessing")["metadata"]
    assert blessing["baseline_model_id"] == blessing["current_model_id"] == model  # the stock strategy's cached model
    metrics = task_output(preflights, second.run_id, "MetricsPublisher", "metrics")["metadata"]
    assert metrics["baseline_accuracy"] == pytest.approx(metrics["accuracy"])


def test_inspect_reads_the_preflight_store_in_kfps_layout(preflights, capsys):
    store = ["--metadata-path", str(preflights.folder / "metadata.db"), "--pipeline-name", PIPELINE]
    assert command_line.main(["metrics", "--run", preflights.first.run_id, "--json", *store]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["blessing"]["blessed"] and data["metrics"]["split"] == "test"
    assert data["published"]["accuracy"] == pytest.approx(data["metrics"]["overall"]["sparse_categorical_accuracy"])


def broken_spec(preflights, tmp_path, task: str, key: str, change) -> str:
    """The compiled job with one parameter of ``task`` changed by ``change``, as a file."""
    job = json.loads(json.dumps(preflights.job))
    parameter = job["pipelineSpec"]["root"]["dag"]["tasks"][task]["inputs"]["parameters"][key]["runtimeValue"]
    parameter["constant"] = change(parameter["constant"])
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(job))
    return str(path)


def preflight_spec(preflights, spec: str) -> types.SimpleNamespace:
    return invoke(["--spec", spec, "--output-root", str(preflights.root), "--param", f"data_root={preflights.data}"])


def test_a_module_that_does_not_import_fails_the_preflight_naming_the_task(preflights, tmp_path):
    spec = broken_spec(
        preflights, tmp_path, "Transform", "preprocessing_fn", lambda _: "models.missing.preprocessing_fn"
    )
    result = preflight_spec(preflights, spec)
    assert result.code == 1 and result.err.count("\n") == 1
    assert result.err.startswith(
        "cloud.preflight: error: task Transform failed: ModuleNotFoundError: No module named 'models.missing' (log: "
    ), result.err
    assert run_states(preflights.store, result.run_id)["Transform"] == "FAILED"


def test_a_job_that_would_still_reach_google_cloud_is_refused_before_anything_runs(preflights):
    result = invoke(["--spec", str(preflights.folder / "pipeline.json"), "--output-root", str(preflights.root)])
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"cloud.preflight: error: runtime parameter data_root is {CLOUD['data_root']}, on Google Cloud Storage, "
        "which the preflight does not reach: give a local copy (--param NAME=DIR for a runtime parameter)\n"
    )
