"""``python -m cloud.preflight --target kfp``: the job compiled for Kubeflow Pipelines 2, run as KFP's backend runs it.

One module fixture on the 8x8 digits: ``kfp`` runs the job three times as KFP's backend does (no
pre-cache-check driver, untyped inputs, its cache key and ML Metadata layout): the first run pushes
with no baseline, the second is evaluated against the first's pushed model, the third follows new
data files. Every task runs in its own process. The Vertex AI run is in test_preflight.py.
"""

import json
import os
import re
import shutil
import sys

import httpx
import pytest
from conftest import CLOUD_BASE
from preflight_runs import (
    DATA_STAGE,
    EVALUATION,
    EVERY_STEP,
    PIPELINE,
    TRAINING,
    invoke,
    opened,
    parameters,
    preflight_root,
    run_states,
    task_output,
)

from benchmarks.service_process import ServiceProcess
from cloud import compiler
from data.layout import DATA_FINGERPRINT
from inspection import command_line


@pytest.fixture(scope="module")
def kfp(tmp_path_factory):
    """Three preflights of the job compiled for Kubeflow Pipelines 2; new data files before the third."""
    place = preflight_root(tmp_path_factory, "kfp", CLOUD_BASE)
    argv = [*place.argv, "--target", "kfp"]
    first, second = invoke(argv), invoke(argv)
    (shard,) = [name for name in os.listdir(place.data) if name.endswith(".tfrecord")]
    shutil.copy(os.path.join(place.data, shard), os.path.join(place.data, "more-" + shard))
    return opened(place, [first, second, invoke(argv)])


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


def test_new_data_files_rerun_importexamplegen_and_everything_after_it_on_kfp(kfp):
    second, third = kfp.runs[1], kfp.runs[2]
    assert third.code == 0, third.err
    # Everything downstream of the examples runs again; the imported schema does not depend on them.
    assert run_states(kfp, third.run_id) == {**dict.fromkeys(EVERY_STEP, "COMPLETE"), "ImportSchemaGen": "CACHED"}

    fingerprints = [parameters(kfp, run.run_id, "ImportExampleGen")[DATA_FINGERPRINT] for run in (second, third)]
    assert fingerprints[0] and fingerprints[0] != fingerprints[1]
    counts = task_output(kfp, third.run_id, "MetricsPublisher", "metrics")["metadata"]["example_count"]
    assert counts > 170  # the copied file's examples are in the new splits


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


def test_inspect_reads_the_preflight_store_in_kfps_layout(kfp, capsys):
    store = ["--metadata-path", str(kfp.folder / "metadata.db"), "--pipeline-name", PIPELINE]
    assert command_line.main(["metrics", "--run", kfp.runs[1].run_id, "--json", *store]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["blessing"]["blessed"] and data["metrics"]["split"] == "test"
    assert data["published"]["accuracy"] == pytest.approx(data["metrics"]["overall"]["sparse_categorical_accuracy"])
    assert data["metrics"]["baseline"] is not None


def test_tfxs_own_entrypoint_fails_where_kfps_launcher_runs_it(kfp, tmp_path):
    job = json.loads(json.dumps(kfp.job))
    for executor in job["pipelineSpec"]["deploymentSpec"]["executors"].values():
        executor["container"]["command"] = ["python", "-m", compiler.TFX_ENTRYPOINT]
    spec = tmp_path / "pipeline.json"
    spec.write_text(json.dumps(job))
    argv = ["--spec", str(spec), "--target", "kfp", "--output-root", str(tmp_path)]
    result = invoke([*argv, "--param", f"data_root={kfp.data}"])
    assert result.code == 1 and "ImportError: Could not import system.Artifact" in result.err, result.err
