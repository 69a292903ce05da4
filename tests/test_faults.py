"""Faults and recovery on the real local pipeline (8x8 digits, quick budgets): nothing lost, nothing bad pushed."""

import glob
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import tensorflow as tf
from conftest import PROJECT_ROOT, tree_digest, wait_for
from google.protobuf import json_format
from tensorflow_metadata.proto.v0 import statistics_pb2

import local_runner
from data import prepare
from data.layout import SPLITS
from inspection import history, results
from inspection import store as store_lib
from models import features
from models.callbacks import read_records
from models.features import ACCURACY
from pipeline import config as config_lib
from pipeline.flags import parse_args

BEFORE_TRAINER = (
    "ImportExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
)
# What Keras' BackupAndRestore writes after each epoch: {"epoch": epochs finished, ...}.
BACKUP_PROGRESS = "training_metadata.json"
PIPELINE = config_lib.get_config("digits").pipeline_name


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory) -> str:
    """The digits data, prepared once and shared read-only by every run in this module."""
    root = str(tmp_path_factory.mktemp("digits-data"))
    prepare.prepare("digits", root)
    return root


def flags_for(output_root, data_root, *extra) -> list:
    return ["--quick", "--output-root", str(output_root), "--data-root", data_root, "--tuning-mode", "off", *extra]


def start(flags) -> subprocess.Popen:
    """The local runner in its own process, as a user (or a scheduler) starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "local_runner", *flags],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def backed_up(progress_pattern: str) -> int:
    """Epochs the Trainer's backup has saved (0 before its first); its count is renamed into place whole."""
    found = glob.glob(progress_pattern)
    if not found:
        return 0
    with open(found[0]) as f:
        return json.load(f)["epoch"]


def store_of(config):
    return store_lib.open_store(config.metadata_path)


def test_a_run_killed_during_training_resumes_after_its_last_epoch_on_rerun(tmp_path, digits_root):
    # Enough epochs that the run is still training when its third backup is seen (a digits epoch is
    # about 0.15 s), and no early stop.
    epochs = 40
    flags = flags_for(tmp_path, digits_root, "--train-epochs", str(epochs), "--early-stopping-patience", str(epochs))
    config = parse_args(flags)
    backups = os.path.join(config.pipeline_root, "Trainer", "backup", "*", "*")
    progress = os.path.join(config.pipeline_root, "Trainer", "backup", "*", BACKUP_PROGRESS)
    run = start(flags)
    wait_for(lambda: backed_up(progress) >= 3, run, "the Trainer backed up its third epoch")
    run.send_signal(signal.SIGKILL)
    run.wait()
    finished = backed_up(progress)  # epochs finished and backed up when the run died
    (killed_log,) = glob.glob(os.path.join(config.pipeline_root, "Trainer", "model_run", "*"))
    killed_losses = [record["loss"] for record in read_records(killed_log)][:finished]
    assert len(killed_losses) == finished >= 3 and killed_losses[-1] < killed_losses[0]

    killed = history.latest_run(store_of(config), config.pipeline_name)
    assert killed.states()["Trainer"] != "COMPLETE"
    assert "Pusher" not in killed.states()
    assert not os.listdir(config.serving_dir)

    assert local_runner.main(flags) == 0
    store = store_of(config)
    rerun = history.latest_run(store, config.pipeline_name)
    assert rerun.run_id != killed.run_id
    assert {node: rerun.states()[node] for node in BEFORE_TRAINER} == {node: "CACHED" for node in BEFORE_TRAINER}
    assert rerun.states()["Trainer"] == rerun.states()["Pusher"] == "COMPLETE"
    # The rerun's Trainer started at the epoch after the last one the killed run had finished.
    (model_run,) = history.output_artifacts(store, rerun.run_id, "ModelRun")
    resumed = read_records(model_run.uri)
    assert [record["epoch"] for record in resumed] == list(range(finished + 1, epochs + 1))
    # The weights were restored: the first resumed epoch goes on from the killed run's last loss. A
    # fresh start (the same seed and data) would begin again near its first.
    first_loss = resumed[0]["loss"]
    assert abs(first_loss - killed_losses[-1]) < abs(first_loss - killed_losses[0])
    # The killed execution is still not reported complete, and exactly one model was pushed.
    states = {run.run_id: run.states() for run in history.runs(store, config.pipeline_name)}
    assert states[killed.run_id]["Trainer"] != "COMPLETE"
    assert len(os.listdir(config.serving_dir)) == 1
    assert not glob.glob(backups)  # BackupAndRestore removes its checkpoint once training finishes


def split_keys(store, run_id) -> dict:
    """The example keys ImportExampleGen put in each split."""
    examples = history.run_artifact(store, PIPELINE, run_id, "Examples", "examples")
    keys = {}
    for split in SPLITS:
        paths = glob.glob(os.path.join(examples.uri, f"Split-{split}", "*"))
        records = tf.data.TFRecordDataset(paths, compression_type="GZIP")
        parsed = (tf.train.Example.FromString(record.numpy()) for record in records)
        keys[split] = {example.features.feature[features.KEY].bytes_list.value[0] for example in parsed}
    return keys


def same_up_to_float_order(a, b) -> bool:
    """Equal structures whose floats agree to 1e-9: TFDV batches examples adaptively (Beam's BatchElements,
    sized by timing), so sums taken in another order may differ in the last bits."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_up_to_float_order(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_up_to_float_order(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def statistics(store, run_id) -> statistics_pb2.DatasetFeatureStatisticsList:
    stats = history.run_artifact(store, PIPELINE, run_id, "ExampleStatistics", "statistics")
    merged = statistics_pb2.DatasetFeatureStatisticsList()
    for split in SPLITS:
        with open(os.path.join(stats.uri, f"Split-{split}", "FeatureStats.pb"), "rb") as f:
            merged.datasets.extend(statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read()).datasets)
    return merged


def schema_text(store, run_id) -> str:
    schema = history.run_artifact(store, PIPELINE, run_id, "Schema", "schema")
    with open(os.path.join(schema.uri, "schema.pbtxt")) as f:
        return f.read()


def tuner_trials(store, run_id) -> tuple:
    """The Tuner's trials in a run, [(values, score)] in trial order, and the best values it chose."""
    tuner_results = history.run_artifact(store, PIPELINE, run_id, "TunerResults", "tuner_results")
    with open(os.path.join(tuner_results.uri, "tuner_results.json")) as f:
        trials = json.load(f)
    best = history.run_artifact(store, PIPELINE, run_id, "HyperParameters", "best_hyperparameters")
    with open(os.path.join(best.uri, "best_hyperparameters.txt")) as f:
        best_values = json.load(f)["values"]
    rows = [(int(t.pop("trial_id")), t.pop("score"), t) for t in trials]  # the rest of a row are its values
    return [(values, score) for _, score, values in sorted(rows, key=lambda row: row[0])], best_values


def test_two_tuned_runs_of_the_same_data_and_config_agree(tmp_path, digits_root):
    outcomes = []
    for name in ("a", "b"):
        flags = flags_for(tmp_path / name, digits_root, "--tuning-mode", "tune", "--tuner-max-trials", "3")
        config = parse_args(flags)
        assert local_runner.main(flags) == 0
        store = store_of(config)
        run_id = history.latest_run(store, config.pipeline_name).run_id
        accuracy = results.evaluation_metrics(store, run_id)["overall"][ACCURACY]
        outcomes.append(
            (
                split_keys(store, run_id),
                statistics(store, run_id),
                schema_text(store, run_id),
                accuracy,
                tuner_trials(store, run_id),
            )
        )
    (keys_a, stats_a, schema_a, accuracy_a, tuned_a), (keys_b, stats_b, schema_b, accuracy_b, tuned_b) = outcomes
    assert keys_a == keys_b and keys_a["train"] and keys_a["eval"] and keys_a["test"]
    assert same_up_to_float_order(json_format.MessageToDict(stats_a), json_format.MessageToDict(stats_b))
    assert schema_a == schema_b
    # Training reads a cached split in content order with seeded shuffles and stateless shifts
    # (models/inputs.py), so the same trials score the same, the same best is picked, and the same model trained.
    (trials_a, best_a), (trials_b, best_b) = tuned_a, tuned_b
    assert trials_a == trials_b and best_a == best_b
    assert accuracy_a == accuracy_b


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_an_output_root_that_cannot_be_written_is_one_clear_line(tmp_path, digits_root, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    assert local_runner.main(flags_for(blocker, digits_root)) == 1
    assert "output folder not writable" in one_line_error(capsys)
    assert sorted(os.listdir(tmp_path)) == ["not-a-folder"]


def test_a_missing_data_path_is_one_clear_line_and_writes_nothing(tmp_path, capsys):
    output = tmp_path / "outputs"
    assert local_runner.main(flags_for(output, str(tmp_path / "nowhere"))) == 2
    assert "nowhere does not exist" in one_line_error(capsys)
    assert not output.exists()


def test_a_metadata_file_that_is_not_a_database_is_one_clear_line(tmp_path, digits_root, capsys):
    flags = flags_for(tmp_path, digits_root)
    config = parse_args(flags)
    os.makedirs(os.path.dirname(config.metadata_path))
    with open(config.metadata_path, "w") as f:
        f.write("these are not the bytes of an SQLite database " * 100)
    before = tree_digest(str(tmp_path))
    assert local_runner.main(flags) == 1
    assert "not an ML Metadata SQLite database" in one_line_error(capsys)
    assert tree_digest(str(tmp_path)) == before
