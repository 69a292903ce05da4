"""``python -m cloud.preflight`` on the job compiled for Vertex AI, run task by task here as Vertex AI runs it.

One module fixture on the 8x8 digits: ``vertex`` compiles a cloud config that uses every Google
Cloud service (Vertex Training for a parallel Tuner and a two-replica Trainer, Dataflow, a Vertex
endpoint) and runs it once as Vertex AI does, started by ``make preflight``. Every task runs in its
own process. The Kubeflow Pipelines 2 runs are in test_preflight_kfp.py.
"""

import json
import os

import pytest
from conftest import CLOUD_BASE
from preflight_runs import (
    EVERY_STEP,
    PIPELINE,
    VERTEX_CLOUD,
    invoke,
    invoke_make,
    opened,
    parameters,
    preflight_root,
    run_states,
    task_output,
)

from cloud import compiler
from cloud.preflight import standins
from pipeline import evaluation


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    """One preflight of the job compiled for Vertex AI, started by ``make preflight``."""
    place = preflight_root(tmp_path_factory, "vertex", VERTEX_CLOUD, prepared=False)
    return opened(place, [invoke_make(place)])


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
