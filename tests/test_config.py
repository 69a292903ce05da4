"""The typed config: presets read the schema, overrides validate, the CLI maps onto fields."""

import dataclasses

import pytest

from pipeline import config as config_lib
from pipeline.flags import parse_args


def test_presets_take_shape_and_classes_from_their_schema(tmp_path):
    digits = config_lib.get_config("digits", output_root=str(tmp_path))
    mnist = config_lib.get_config("mnist", output_root=str(tmp_path))
    assert (digits.image_shape, digits.num_classes) == ((8, 8, 1), 10)
    assert (mnist.image_shape, mnist.num_classes) == ((28, 28, 1), 10)
    assert digits.data_root == str(tmp_path / "data" / "digits")
    assert mnist.metadata_path == str(tmp_path / "metadata" / "mnist-convnet" / "metadata.db")


def test_config_is_frozen_and_quick_shrinks_budgets():
    full, quick = config_lib.get_config(), config_lib.get_config(quick=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.train_epochs = 1
    assert quick.train_epochs < full.train_epochs and quick.tuner_max_trials <= full.tuner_max_trials


def test_command_line_overrides_every_kind_of_field(tmp_path):
    config = parse_args(
        ["--dataset", "mnist", "--quick", "--output-root", str(tmp_path), "--train-epochs", "7",
         "--tuning-mode", "off", "--split-buckets", "18,1,1", "--accuracy-lower-bound", "0.75",
         "--beam-args=--direct_running_mode=multi_processing,--direct_num_workers=2"]
    )  # fmt: skip
    assert config.train_epochs == 7 and config.tuning_mode == "off"
    assert config.split_buckets == (18, 1, 1) and config.accuracy_lower_bound == 0.75
    assert config.beam_args == ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


def test_a_new_dataset_with_schema_gen_needs_shape_and_classes():
    with pytest.raises(config_lib.ConfigError, match="use_schema_gen needs image_shape and num_classes"):
        config_lib.get_config("faces", use_schema_gen=True)
    config = config_lib.get_config("faces", use_schema_gen=True, image_shape=(32, 32, 3), num_classes=5)
    assert config.image_shape == (32, 32, 3)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(image_shape=(28, 28, 1)), "describes images \\(8, 8, 1\\) with 10 classes"),
        (dict(train_epochs=0), "train_epochs must be at least 1"),
        (dict(split_buckets=(4, 1)), "split_buckets must be three positive counts"),
        (dict(accuracy_lower_bound=1.5), "accuracy_lower_bound must lie in"),
        (dict(learning_rate=0.1), "unknown config field\\(s\\): learning_rate"),
        (dict(baseline_strategy="newest"), "baseline_strategy must be one of"),
        (dict(schema_path="/nonexistent/schema.pbtxt"), "/nonexistent/schema.pbtxt: cannot read schema"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.get_config("digits", **overrides)


def test_unknown_dataset_is_named():
    with pytest.raises(config_lib.ConfigError, match="unknown dataset 'faces'"):
        config_lib.get_config("faces")


def test_a_schema_behind_a_url_scheme_is_read_through_tensorflows_file_api():
    import tensorflow as tf

    # TensorFlow's in-memory filesystem stands in for gs://: both go through tf.io.gfile, which open() cannot read.
    local = config_lib.get_config("digits").schema_path
    remote = "ram://schemas/digits/schema.pbtxt"
    tf.io.gfile.makedirs("ram://schemas/digits")
    tf.io.gfile.copy(local, remote, overwrite=True)
    config = config_lib.get_config("digits", schema_path=remote)
    assert (config.image_shape, config.num_classes, config.schema_path) == ((8, 8, 1), 10, remote)
    with pytest.raises(config_lib.ConfigError, match="ram://schemas/none.pbtxt: cannot read schema"):
        config_lib.get_config("digits", schema_path="ram://schemas/none.pbtxt")
