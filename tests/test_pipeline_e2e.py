"""End to end: the whole local pipeline on a slice of MNIST-10k, checked through MLMD.

The session's shared run (conftest ``mnist_run``) is checked, re-run to prove caching, then fed
bad data to prove the gate stops the run and the pushed model stays. Tests run in file order.
"""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from conftest import tree_digest
from tfx.utils import path_utils

import local_runner
from data import format as record_format
from data import sources
from inspection import command_line, history, records, results
from inspection import store as store_lib
from models import features, training
from pipeline import dag
from pipeline.baseline import model_digest

COMPONENTS = {
    "ImportExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
    "Tuner",
    "Trainer",
    "BaselineFinder",
    "Evaluator",
    "MetricsPublisher",
    "Pusher",
}
# What a re-run of an unchanged pipeline runs again: the served model is found afresh, and the same
# model is evaluated against it, blessed and recorded at the version that already serves it.
AFRESH = ("BaselineFinder", "Evaluator", "MetricsPublisher", "Pusher")
BEFORE_TRAINING = (
    "ImportExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
)


def latest(config) -> records.RunRecord:
    return history.latest_run(store_lib.open_store(config.metadata_path), config.pipeline_name)


@pytest.fixture(scope="module")
def workspace(mnist_run):
    return mnist_run


@pytest.fixture(scope="module")
def first_run(mnist_run):
    return mnist_run.first_run


def pushed_versions(config) -> list:
    return sorted(os.listdir(config.serving_dir))


def test_every_component_executed(first_run):
    assert first_run.states() == {node: "COMPLETE" for node in COMPONENTS}


def test_model_was_blessed_and_pushed(workspace, first_run):
    store = store_lib.open_store(workspace.config.metadata_path)
    (blessing,) = history.output_artifacts(store, first_run.run_id, "ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 1
    (pushed,) = history.output_artifacts(store, first_run.run_id, "PushedModel")
    assert pushed.custom_properties["pushed"].int_value == 1
    (version,) = pushed_versions(workspace.config)
    assert pushed.custom_properties["pushed_destination"].string_value.endswith(version)


def test_pushed_model_predicts_on_raw_input(workspace, first_run, mnist_dir):
    (version,) = pushed_versions(workspace.config)
    loaded = tf.saved_model.load(os.path.join(workspace.config.serving_dir, version))
    items = list(sources.mnist(mnist_dir, limit=32))
    images = tf.constant([item.image.tobytes() for item in items])
    by_image = loaded.signatures["serving_image"](image=images)
    assert by_image[features.PROBABILITIES].shape == (32, 10)
    assert by_image[features.CLASSES].shape == (32,)
    accuracy = np.mean(by_image[features.CLASSES].numpy() == [item.label for item in items])
    assert accuracy > 0.7  # three quick epochs on 1,600 images; chance is 0.1
    # Serialized tf.Examples carrying only the image (no label, key or shape) give the same answer.
    examples = []
    for item in items:
        example = record_format.to_example(item)
        for key in list(example.features.feature):
            if key != features.IMAGE:
                del example.features.feature[key]
        examples.append(example.SerializeToString())
    by_example = loaded.signatures["serving_default"](examples=tf.constant(examples))
    np.testing.assert_allclose(by_example[features.PROBABILITIES], by_image[features.PROBABILITIES], rtol=1e-5)


def split_examples(uri: str, split: str) -> list:
    """The tf.train.Examples of one split of an Examples artifact."""
    paths = tf.io.gfile.glob(os.path.join(uri, f"Split-{split}", "*"))
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(paths, compression_type="GZIP")]


def feature_bytes(example, name: str) -> bytes:
    return example.features.feature[name].bytes_list.value[0]


def test_the_test_split_reaches_only_the_evaluator(workspace, first_run):
    store = store_lib.open_store(workspace.config.metadata_path)
    name, run_id = workspace.config.pipeline_name, first_run.run_id
    raw = history.run_artifact(store, name, run_id, "Examples", "examples")
    transformed = history.run_artifact(store, name, run_id, "Examples", "transformed_examples")
    assert json.loads(raw.properties["split_names"]) == ["train", "eval", "test"]
    for node in ("Tuner", "Trainer"):
        assert [a.id for a in history.execution_inputs(store, run_id, node)["examples"]] == [transformed.id]
    assert [a.id for a in history.execution_inputs(store, run_id, "Evaluator")["examples"]] == [raw.id]
    # Transform drops the key; each image names its example (the 1,000 MNIST images are distinct).
    keys = {split: {} for split in ("train", "eval", "test")}
    for split, by_image in keys.items():
        for example in split_examples(raw.uri, split):
            by_image[feature_bytes(example, features.IMAGE)] = feature_bytes(example, features.KEY)
    key_of = {image: key for by_image in keys.values() for image, key in by_image.items()}
    assert len(key_of) == sum(len(by_image) for by_image in keys.values())
    # Everything Tuner and Trainer can read, which is all Transform wrote: train and eval, key for key.
    assert sorted(os.listdir(transformed.uri)) == ["Split-eval", "Split-train"]
    for split in ("train", "eval"):
        received = [key_of[feature_bytes(e, features.IMAGE_XF)] for e in split_examples(transformed.uri, split)]
        assert sorted(received) == sorted(keys[split].values())
        assert not set(received) & set(keys["test"].values())


def test_the_evaluators_accuracy_is_the_pushed_models_on_the_test_split(workspace, first_run):
    store = store_lib.open_store(workspace.config.metadata_path)
    raw = history.run_artifact(store, workspace.config.pipeline_name, first_run.run_id, "Examples", "examples")
    (version,) = pushed_versions(workspace.config)
    predict = tf.saved_model.load(os.path.join(workspace.config.serving_dir, version)).signatures["serving_default"]
    examples = split_examples(raw.uri, "test")
    answers = predict(examples=tf.constant([e.SerializeToString() for e in examples]))[features.CLASSES].numpy()
    labels = [e.features.feature[features.LABEL].int64_list.value[0] for e in examples]
    metrics = results.evaluation_metrics(store, first_run.run_id)
    assert metrics["split"] == "test" and metrics["overall"]["example_count"] == len(examples) > 0
    assert metrics["overall"][features.ACCURACY] == pytest.approx(np.mean(answers == labels), abs=1e-6)


def test_a_second_run_takes_the_model_from_the_cache_and_checks_it_against_what_is_served(workspace, first_run):
    assert local_runner.main(workspace.flags) == 0
    rerun = latest(workspace.config)
    assert rerun.run_id != first_run.run_id
    expected = {node: "COMPLETE" if node in AFRESH else "CACHED" for node in COMPONENTS}
    assert rerun.states() == expected
    versions = pushed_versions(workspace.config)
    store = store_lib.open_store(workspace.config.metadata_path)
    (pushed,) = history.output_artifacts(store, rerun.run_id, "PushedModel")
    assert len(versions) == 1 and records.plain_properties(pushed)["pushed_version"] == versions[0]


def test_a_new_model_is_evaluated_against_the_blessed_one(workspace, first_run):
    store = store_lib.open_store(workspace.config.metadata_path)
    first_model = history.run_artifact(store, workspace.config.pipeline_name, first_run.run_id, "Model", "model")
    # Different training settings give a new model; the first one is the blessed baseline.
    assert local_runner.main(workspace.flags + ["--tuning-mode", "off", "--train-epochs", "2"]) == 0
    run = latest(workspace.config)
    assert run.states()["Trainer"] == "COMPLETE" and run.states()["Evaluator"] == "COMPLETE"
    # Epochs and tuning mode are the Trainer's settings: everything before it comes from the cache.
    assert {node: run.states()[node] for node in BEFORE_TRAINING} == {node: "CACHED" for node in BEFORE_TRAINING}
    assert "Tuner" not in run.states()
    store = store_lib.open_store(workspace.config.metadata_path)
    evaluator_inputs = history.execution_inputs(store, run.run_id, "Evaluator")
    (baseline_model,) = evaluator_inputs["baseline_model"]
    # The baseline is the first run's model as the Pusher served it: the same files, found afresh.
    assert model_digest(path_utils.serving_model_dir(baseline_model.uri)) == model_digest(
        path_utils.serving_model_dir(first_model.uri)
    )
    assert [a.id for a in evaluator_inputs["model"]] != [first_model.id]


def test_the_trainer_builds_exactly_the_tuners_best_hyperparameters(workspace, first_run):
    store = store_lib.open_store(workspace.config.metadata_path)
    (best,) = history.output_artifacts(store, first_run.run_id, "HyperParameters")
    with open(os.path.join(best.uri, "best_hyperparameters.txt")) as f:
        values = json.load(f)["values"]
    model = history.run_artifact(store, workspace.config.pipeline_name, first_run.run_id, "Model", "model")
    checkpoint = os.path.join(model.uri, "Format-Serving", "variables", "variables")
    layers = [
        (name.split("/")[1], shape)
        for name, shape in tf.train.list_variables(checkpoint)
        if name.startswith("_operations/") and "/_kernel/" in name
    ]
    kernels = [shape for _, shape in sorted(layers, key=lambda layer: int(layer[0]))]
    first_conv = next(shape for shape in kernels if len(shape) == 4)
    assert tuple(first_conv) == (values["kernel_size"], values["kernel_size"], 1, values["conv_filters"])
    hidden_dense = [shape for shape in kernels if len(shape) == 2][0]
    assert hidden_dense[1] == values["dense_units"]
    (run_dir,) = history.output_artifacts(store, first_run.run_id, "ModelRun")
    with open(os.path.join(run_dir.uri, training.HYPERPARAMETERS_FILE)) as f:
        assert json.load(f) == values  # dropout and learning rate too


def test_reuse_mode_trains_from_the_stored_best_hyperparameters_without_tuning(workspace, first_run):
    store = store_lib.open_store(workspace.config.metadata_path)
    (best,) = history.output_artifacts(store, first_run.run_id, "HyperParameters")
    assert local_runner.main(workspace.flags + ["--tuning-mode", "reuse"]) == 0
    run = latest(workspace.config)
    assert "Tuner" not in run.states()
    assert run.states()[dag.HYPERPARAMETERS_RESOLVER] == "COMPLETE"
    assert run.states()["Trainer"] == "COMPLETE"
    assert {node: run.states()[node] for node in BEFORE_TRAINING} == {node: "CACHED" for node in BEFORE_TRAINING}
    store = store_lib.open_store(workspace.config.metadata_path)
    trainer_inputs = history.execution_inputs(store, run.run_id, "Trainer")
    assert [a.id for a in trainer_inputs["hyperparameters"]] == [best.id]


def _bad_dataset(folder: str, mnist_dir: str, bad_examples: list) -> str:
    """200 good MNIST examples plus ``bad_examples`` (tf.train.Example protos) in one folder."""
    record_format.write_records(sources.mnist(mnist_dir, limit=200), folder, "good")
    with tf.io.TFRecordWriter(os.path.join(folder, "bad.tfrecord")) as writer:
        for example in bad_examples:
            writer.write(example.SerializeToString())
    return folder


def _label_out_of_range(rng):
    return [record_format.to_example(record_format.LabeledImage(f"bad-{i}", _image(rng), 12)) for i in range(5)]


def _wrong_image_size(rng):
    return [record_format.to_example(record_format.LabeledImage(f"bad-{i}", _image(rng, 20), 3)) for i in range(5)]


def _missing_label(rng):
    examples = [record_format.to_example(record_format.LabeledImage(f"bad-{i}", _image(rng), 3)) for i in range(5)]
    for example in examples:
        del example.features.feature[features.LABEL]
    return examples


def _image(rng, size=28):
    return rng.integers(0, 256, (size, size, 1), dtype=np.uint8)


@pytest.mark.parametrize(
    "make_bad, status, named",
    [
        # A label out of range is degenerate data, named by split and count: a bad input.
        (_label_out_of_range, 2, r"split \w+ has \d+ label\(s\) outside \[0, 10\): 12 \(\d+\)"),
        (_wrong_image_size, 1, r"data anomalies stopped the run before training: .*'height'"),
        (_missing_label, 1, r"data anomalies stopped the run before training: .*'label'"),
    ],
    ids=["label-out-of-range", "wrong-image-size", "missing-label"],
)
def test_bad_data_stops_the_run_before_training_and_keeps_the_pushed_model(
    workspace, first_run, mnist_dir, tmp_path, capsys, make_bad, status, named
):
    served = tree_digest(workspace.config.serving_dir)
    data_root = _bad_dataset(str(tmp_path / "data"), mnist_dir, make_bad(np.random.default_rng(0)))
    assert local_runner.main(workspace.flags + ["--data-root", data_root]) == status
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("local_runner.py: error: ") and re.search(named, line), line
    # The run's log file, named at the end of the line, holds the rest (TFX's own report of the failure).
    log_path = re.search(r"\(log: (\S+)\)$", line).group(1)
    with open(log_path) as f:
        assert "AnomaliesGate" in f.read()
    states = latest(workspace.config).states()
    assert states["AnomaliesGate"] == "FAILED"
    assert not {"Transform", "Tuner", "Trainer", "Evaluator", "Pusher"} & set(states)
    assert tree_digest(workspace.config.serving_dir) == served
    if status == 1:  # the anomaly is there for whoever looks later, through the inspect CLI
        assert command_line.main(["anomalies", *workspace.flags]) == 0
        report = capsys.readouterr().out
        feature = re.search(r"'\w+'", named).group(0)
        assert any(feature in line for line in report.splitlines()[1:]), report


def test_corrupted_tfrecord_is_named_before_anything_runs(workspace, first_run, mnist_dir, tmp_path, capsys):
    served = tree_digest(workspace.config.serving_dir)
    runs_before = len(
        history.runs(store_lib.open_store(workspace.config.metadata_path), workspace.config.pipeline_name)
    )
    data_root = str(tmp_path / "data")
    (path,) = record_format.write_records(sources.mnist(mnist_dir, limit=300), data_root, "mnist")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 500)
    assert local_runner.main(workspace.flags + ["--data-root", data_root]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"local_runner.py: error: {path}: corrupted or truncated TFRecord file")
    store = store_lib.open_store(workspace.config.metadata_path)
    assert len(history.runs(store, workspace.config.pipeline_name)) == runs_before
    assert tree_digest(workspace.config.serving_dir) == served
