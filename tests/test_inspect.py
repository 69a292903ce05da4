"""``python -m inspection`` and the metadata queries behind it, on the session's run (conftest ``mnist_run``).

Other test modules may run that pipeline again, so these tests name the first run by its id and
assert only what holds whatever ran after it.
"""

import json
import os
import socket
import subprocess
import sys

import ml_metadata as mlmd
import pytest
from conftest import PROJECT_ROOT
from ml_metadata.proto import metadata_store_pb2

import local_runner
from inspection import command_line, commands, history, records
from inspection import lineage as lineage_lib
from inspection import store as store_lib
from models.features import ACCURACY

# What the pushed model's lineage passes through; every run also has MetricsPublisher, beside the Pusher.
LINEAGE = {"ImportExampleGen", "ImportSchemaGen", "Transform", "Tuner", "Trainer", "Evaluator", "Pusher"}
COMPONENTS = LINEAGE | {"MetricsPublisher"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(mnist_run):
    return mnist_run


@pytest.fixture(scope="module")
def first_id(mnist_run) -> str:
    return mnist_run.first_run.run_id


def inspect(capsys, *argv) -> tuple:
    """Runs the CLI in this process; returns (exit code, stdout, stderr)."""
    code = command_line.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def inspect_json(capsys, run, *argv):
    code, out, err = inspect(capsys, *argv, "--json", *run.flags)
    assert code == 0, err
    return json.loads(out)


def assert_png(path) -> None:
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC


def test_runs_lists_the_first_run_with_state_times_and_no_cache_hits(run, first_id, capsys):
    # The pipeline's own flags (--preset mnist --quick --output-root ...) locate the store.
    code, out, _ = inspect(capsys, "runs", *run.flags)
    assert code == 0 and first_id in out and "COMPLETE" in out
    (first,) = [r for r in inspect_json(capsys, run, "runs") if r["run_id"] == first_id]
    assert first["state"] == "COMPLETE"
    assert first["executions"] == len(run.first_run.executions) == 12
    assert first["cached"] == []  # a fresh output root: nothing to reuse
    assert first["end_ms"] > first["start_ms"] and first["seconds"] > 0


def test_executions_per_component_with_durations_and_a_plot(run, first_id, capsys, tmp_path):
    plot = tmp_path / "durations.png"
    code, out, err = inspect(capsys, "executions", "--run", first_id, "--plot", str(plot), *run.flags)
    assert code == 0, err
    assert all(node in out for node in COMPONENTS)
    assert_png(plot)
    data = inspect_json(capsys, run, "executions", "--run", first_id)
    executions = {e["node"]: e for e in data["executions"]}
    assert COMPONENTS <= set(executions)
    assert {e["state"] for e in executions.values()} == {"COMPLETE"}
    assert executions["Trainer"]["seconds"] > 0 and not executions["Trainer"]["cached"]


def test_cache_hits_and_run_state_come_from_execution_states():
    def execution(node, state, start, end):
        return records.ExecutionRecord(node, state, start, end, id=start, type_name="", run_id="r")

    cached = records.RunRecord("r", 0, [execution("A", "CACHED", 10, 12), execution("B", "COMPLETE", 12, 2012)])
    assert cached.cached == ["A"] and cached.state == "COMPLETE" and cached.seconds == 2.002
    failed = records.RunRecord("r", 0, [execution("A", "CACHED", 10, 12), execution("B", "FAILED", 12, 20)])
    assert failed.state == "FAILED"


@pytest.fixture(scope="module")
def cached_rerun(mnist_run):
    """The shared pipeline run again unchanged: everything up to the Trainer comes from the cache."""
    assert local_runner.main(mnist_run.flags) == 0
    store = store_lib.open_store(mnist_run.config.metadata_path)
    return store, history.latest_run(store, mnist_run.config.pipeline_name)


def test_lineage_follows_cached_executions_to_the_original_producers(mnist_run, cached_rerun):
    store, rerun = cached_rerun
    name, first = mnist_run.config.pipeline_name, mnist_run.first_run
    assert rerun.run_id != first.run_id and {"ImportExampleGen", "Transform", "Trainer"} <= set(rerun.cached)
    reused = [a for a in history.run_artifacts(store, name, rerun.run_id) if a.node == "Trainer"]
    assert reused and all(a.cached for a in reused)
    lineage = lineage_lib.pushed_model_lineage(store, name, rerun.run_id)
    by_node = {e.node: e for e in lineage.executions.values()}
    # The data and the model were made by the first run's executions, not by the rerun's cache hits.
    for node in ("ImportExampleGen", "Transform", "Trainer"):
        assert by_node[node].run_id == first.run_id and by_node[node].state == "COMPLETE"
    assert by_node["Pusher"].run_id == by_node["Evaluator"].run_id == rerun.run_id
    # The Evaluator's baseline is an input, whose producer is walked to only when asked.
    assert "BaselineFinder" not in by_node
    (baseline,) = lineage.inputs(by_node["Evaluator"].id)["baseline_model"]
    assert baseline.node == ""
    followed = lineage_lib.lineage(store, lineage.target.id, follow_baseline=True)
    assert "BaselineFinder" in {e.node for e in followed.executions.values()}


def test_artifacts_of_a_run_by_type_with_uris(run, first_id, capsys):
    artifacts = inspect_json(capsys, run, "artifacts", "--run", first_id)["artifacts"]
    types = {a["type_name"] for a in artifacts}
    assert {"Examples", "Schema", "ExampleStatistics", "TransformGraph", "HyperParameters", "Model"} <= types
    assert {
        "ModelEvaluation",
        "ModelBlessing",
        "PushedModel",
        "system.Metrics",
        "system.ClassificationMetrics",
    } <= types
    assert all(os.path.exists(a["uri"]) for a in artifacts)
    models = inspect_json(capsys, run, "artifacts", "--run", first_id, "--type", "Model")["artifacts"]
    # the trained model and the baseline finder's (empty on a first run) pointer to the last pushed one
    assert sorted((m["node"], m["key"]) for m in models) == [("BaselineFinder", "baseline"), ("Trainer", "model")]


def test_lineage_of_the_pushed_model_reaches_its_examples(run, first_id, capsys, tmp_path):
    store = store_lib.open_store(run.config.metadata_path)
    examples = history.output_artifacts(store, first_id, "Examples")  # ImportExampleGen's and Transform's
    (pushed,) = history.output_artifacts(store, first_id, "PushedModel")
    plot = tmp_path / "lineage.png"
    code, out, err = inspect(capsys, "lineage", "--run", first_id, "--plot", str(plot), *run.flags)
    assert code == 0, err
    assert all(e.uri in out for e in examples)
    assert_png(plot)
    lineage = inspect_json(capsys, run, "lineage", "--run", first_id)
    assert lineage["target"]["id"] == pushed.id and lineage["target"]["type_name"] == "PushedModel"
    by_type = {}
    for artifact in lineage["artifacts"]:
        by_type.setdefault(artifact["type_name"], set()).add(artifact["id"])
    assert {e.id for e in examples} <= by_type["Examples"]
    assert {"Schema", "TransformGraph", "HyperParameters", "Model", "ModelBlessing"} <= set(by_type)
    assert LINEAGE <= {e["node"] for e in lineage["executions"]}


def test_metrics_overall_per_class_and_blessing(run, first_id, capsys, tmp_path):
    plot = tmp_path / "per_class.png"
    code, out, err = inspect(capsys, "metrics", "--run", first_id, "--plot", str(plot), *run.flags)
    assert code == 0, err
    assert ACCURACY in out and "BLESSED" in out
    assert_png(plot)
    data = inspect_json(capsys, run, "metrics", "--run", first_id)
    assert 0.0 < data["metrics"]["overall"][ACCURACY] <= 1.0
    assert sorted(data["metrics"]["by_label"]) == [str(label) for label in range(10)]
    assert data["metrics"]["baseline"] is None  # the first blessed model had nothing to beat
    assert data["blessing"]["blessed"] and data["blessing"]["failures"] == []
    # The same numbers as the run published them for the KFP UI and Vertex AI Experiments (MetricsPublisher).
    published = data["published"]
    assert "Published as system.Metrics" in out and published["blessed"] == 1.0 and "baseline_accuracy" not in published
    assert published["accuracy"] == pytest.approx(data["metrics"]["overall"][ACCURACY])
    assert published["example_count"] == data["metrics"]["overall"]["example_count"]
    for label, values in data["metrics"]["by_label"].items():
        assert published[f"accuracy_class_{label}"] == pytest.approx(values[ACCURACY])


def test_compare_two_runs(run, first_id, capsys, tmp_path):
    plot = tmp_path / "compare.png"
    code, out, err = inspect(
        capsys, "compare", "--run", first_id, "--against", first_id, "--plot", str(plot), *run.flags
    )
    assert code == 0, err
    assert "B - A" in out
    assert_png(plot)
    comparison = inspect_json(capsys, run, "compare", "--run", first_id, "--against", first_id)
    assert comparison["runs"] == [first_id, first_id]
    assert comparison["overall"][ACCURACY]["delta"] == 0.0
    assert len(comparison["by_label"]) == 10


@pytest.mark.parametrize("command", ["executions", "artifacts", "lineage", "metrics", "compare"])
def test_unknown_run_id_is_one_clear_line(run, capsys, command):
    code, out, err = inspect(capsys, command, "--run", "no-such-run", *run.flags)
    assert code == 1 and out == ""
    assert (
        err.strip()
        == "inspection: error: no run 'no-such-run' of pipeline 'mnist-convnet' (see the runs command for the run ids)"
    )


def test_missing_store_is_one_clear_line_without_traceback(tmp_path):
    # A real process: what a user sees, TensorFlow's start-up included.
    result = subprocess.run(
        [sys.executable, "-m", "inspection", "lineage", "--output-root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    path = tmp_path / "metadata" / "digits-convnet" / "metadata.db"
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"inspection: error: {path}: no metadata store there (has the pipeline run yet?)"
    ]


def test_empty_store_file_and_store_without_runs(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    code, _, err = inspect(capsys, "runs", "--metadata-path", str(empty))
    assert code == 1 and err.strip() == f"inspection: error: {empty}: empty file, not a metadata store"
    fresh = tmp_path / "fresh.db"
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(fresh)
    mlmd.MetadataStore(config)  # creates the tables, records nothing
    for command in ("runs", "executions", "metrics"):
        code, out, err = inspect(capsys, command, "--metadata-path", str(fresh))
        assert code == 1 and out == ""
        assert err.strip() == "inspection: error: no runs of pipeline 'digits-convnet' in this store"


def test_other_pipeline_name_is_named_in_the_message(run, capsys):
    code, _, err = inspect(capsys, "runs", "--metadata-path", run.config.metadata_path, "--pipeline-name", "other")
    assert code == 1
    assert (
        err.strip() == "inspection: error: no runs of pipeline 'other' in this store (pipelines there: mnist-convnet)"
    )


def test_unreachable_grpc_service_is_one_clear_line(capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = inspect(capsys, "runs", "--grpc-host", "127.0.0.1", "--grpc-port", str(port))
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith(f"inspection: error: metadata store 127.0.0.1:{port}: ")


def test_grpc_client_config_for_kubeflow():
    config = store_lib.grpc_config("metadata-grpc-service.kubeflow")
    assert isinstance(config, metadata_store_pb2.MetadataStoreClientConfig)
    assert (config.host, config.port) == ("metadata-grpc-service.kubeflow", 8080)


def test_bad_pipeline_flags_are_a_configuration_error(capsys):
    code, _, err = inspect(capsys, "runs", "--train-epochs", "0")
    assert code == 2 and err.startswith("inspection: error: train_epochs must lie in [1, 1000], got 0")


def test_format_table_aligns_columns():
    assert commands.format_table(["a", "bb"], [[1, 0.5], [None, 2.0]]).splitlines() == [
        "a  bb",
        "-  ------",
        "1  0.5000",
        "   2",
    ]


def test_the_notebooks_helper_reads_the_store_and_run_from_the_environment(run, first_id, tmp_path):
    from inspection import notebook

    target = notebook.open_target({"PIPELINE_OUTPUT_ROOT": str(run.root), "PIPELINE_NAME": "mnist-convnet"})
    assert (target.metadata_path, target.pipeline_name, target.run_id) == (
        run.config.metadata_path,
        "mnist-convnet",
        "latest",
    )
    assert first_id in {r.run_id for r in history.runs(target.store, target.pipeline_name)}
    explicit = notebook.open_target(
        {
            "PIPELINE_METADATA_PATH": run.config.metadata_path,
            "PIPELINE_NAME": "mnist-convnet",
            "PIPELINE_RUN_ID": first_id,
        }
    )
    assert (explicit.metadata_path, explicit.run_id) == (run.config.metadata_path, first_id)
    with pytest.raises(store_lib.MetadataError, match="no metadata store there"):
        notebook.open_target({"PIPELINE_OUTPUT_ROOT": str(tmp_path)})
