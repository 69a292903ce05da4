"""The typed config: presets are pure, the runner completes them from the data, every value is checked and named."""

import dataclasses
import json
import typing

import numpy as np
import pytest
from conftest import random_image
from PIL import Image

from data import prepare
from models import settings as settings_lib
from pipeline import config as config_lib
from pipeline import facts
from pipeline.flags import parse_args


def test_presets_hold_their_shape_classes_schema_and_budget_and_paths_follow_the_output_root(tmp_path):
    digits = config_lib.get_config("digits", output_root=str(tmp_path))
    mnist = config_lib.get_config("mnist", output_root=str(tmp_path))
    folder = config_lib.get_config("folder", output_root=str(tmp_path))
    assert (digits.image_shape, digits.num_classes, digits.train_epochs) == ((8, 8, 1), 10, 30)
    assert (mnist.image_shape, mnist.num_classes, mnist.train_epochs) == ((28, 28, 1), 10, 7)
    assert (folder.image_shape, folder.use_schema_gen, folder.train_epochs) == ((), True, 10)
    assert digits.data_root == str(tmp_path / "data" / "digits")
    assert mnist.metadata_path == str(tmp_path / "metadata" / "mnist-convnet" / "metadata.db")


def test_building_a_config_reads_no_file_and_the_runner_checks_the_schema(tmp_path):
    missing = str(tmp_path / "no-schema.pbtxt")
    config = config_lib.get_config("digits", schema_path=missing)  # nothing read yet
    with pytest.raises(config_lib.ConfigError, match=f"{missing}: cannot read schema"):
        facts.complete(config)
    wrong = config_lib.get_config("digits", image_shape=(28, 28, 1))
    with pytest.raises(config_lib.ConfigError, match=r"describes images \(8, 8, 1\) with 10 classes"):
        facts.complete(wrong)


def test_an_image_folder_gets_its_own_preset_shape_and_classes_from_what_data_prepare_wrote(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "src" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(random_image(rng, (20, 20, 3))).save(tmp_path / "src" / name / f"{i}.png")
    data_root = str(tmp_path / "data")
    prepare.prepare("folder", data_root, source=str(tmp_path / "src"), image_shape=(12, 10, 3))
    config = facts.complete(parse_args(["--data-root", data_root, "--output-root", str(tmp_path)]))
    assert config.pipeline_name == "folder-convnet" and config.use_schema_gen
    assert (config.image_shape, config.num_classes, config.class_names) == ((12, 10, 3), 2, ("cat", "dog"))
    assert config.train_epochs == config_lib.preset_config("folder").train_epochs


def test_a_folder_without_recorded_facts_needs_shape_and_classes(tmp_path):
    config = config_lib.get_config("folder", data_root=str(tmp_path))
    with pytest.raises(config_lib.ConfigError, match="no image shape or classes recorded there"):
        facts.complete(config)
    done = facts.complete(dataclasses.replace(config, image_shape=(32, 32, 3), num_classes=5))
    assert (done.image_shape, done.num_classes) == ((32, 32, 3), 5)


def test_config_is_frozen_and_quick_shrinks_budgets():
    full, quick = config_lib.get_config(), config_lib.get_config(quick=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.train_epochs = 1
    assert quick.train_epochs < full.train_epochs and quick.tuner_max_trials <= full.tuner_max_trials


def test_command_line_overrides_every_kind_of_field(tmp_path):
    flags = "--preset mnist --quick --train-epochs 7 --tuning-mode off --split-buckets 18,1,1 --no-enable-cache"
    flags += " --accuracy-lower-bound 0.75 --use-schema-gen"
    beam = "--beam-args=--direct_running_mode=multi_processing,--direct_num_workers=2"
    config = parse_args([*flags.split(), "--output-root", str(tmp_path), beam])
    assert config.train_epochs == 7 and config.tuning_mode == "off" and not config.enable_cache
    assert config.split_buckets == (18, 1, 1) and config.accuracy_lower_bound == 0.75 and config.use_schema_gen
    assert config.beam_args == ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(train_epochs=0), r"train_epochs must lie in \[1, 1000\], got 0"),
        (dict(seed=-1), r"seed must lie in \[0, 2147483647\], got -1"),
        (dict(batch_size=100_000), r"batch_size must lie in \[1, 4096\]"),
        (dict(trainer_workers=100), r"trainer_workers must lie in \[1, 8\], got 100"),
        (dict(image_shape=(100_000, 100_000, 3)), r"image_shape must lie in \[1, 1024\]"),
        (dict(image_shape=(28, 28, 2)), "channels in"),
        (dict(num_classes=1), "num_classes must be at least 2"),
        (dict(split_buckets=(4, 1)), "split_buckets must be three counts"),
        (dict(accuracy_lower_bound=1.5), r"accuracy_lower_bound must lie in \[0.0, 1.0\]"),
        (dict(tuning_mode="sometimes"), "tuning_mode must be one of tune, reuse, file, off"),
        (dict(learning_rate=0.1), r"unknown setting\(s\): learning_rate"),
        (dict(train_epochs="5"), "train_epochs must be of type int"),
    ],
)
def test_bad_values_are_named(overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.get_config("digits", **overrides)


def test_unknown_preset_is_named():
    with pytest.raises(config_lib.ConfigError, match="unknown preset 'faces'"):
        config_lib.get_config("faces")


def test_a_schema_behind_a_url_scheme_is_read_through_tensorflows_file_api():
    import tensorflow as tf

    # TensorFlow's in-memory filesystem stands in for gs://: both go through tf.io.gfile, which open() cannot read.
    local = config_lib.get_config("digits").schema_path
    remote = "ram://schemas/digits/schema.pbtxt"
    tf.io.gfile.makedirs("ram://schemas/digits")
    tf.io.gfile.copy(local, remote, overwrite=True)
    config = facts.complete(config_lib.get_config("digits", schema_path=remote, image_shape=(), num_classes=0))
    assert (config.image_shape, config.num_classes, config.schema_path) == ((8, 8, 1), 10, remote)
    with pytest.raises(config_lib.ConfigError, match="ram://schemas/none.pbtxt: cannot read schema"):
        facts.complete(config_lib.get_config("digits", schema_path="ram://schemas/none.pbtxt"))


@pytest.mark.parametrize(
    "settings_class", [settings_lib.TransformSettings, settings_lib.TuningSettings, settings_lib.TrainingSettings]
)
def test_each_components_settings_are_pipeline_settings_by_name_and_type(settings_class):
    declared = typing.get_type_hints(config_lib.PipelineConfig)
    hints = typing.get_type_hints(settings_class)
    selected = [f.name for f in dataclasses.fields(settings_class) if not f.metadata.get("derived")]
    assert selected and {name: hints[name] for name in selected} == {name: declared[name] for name in selected}
    # What the pipeline hands the component is the config's own values, by those names.
    config = config_lib.get_config("digits")
    values = settings_lib.select(settings_class, config, code_version="x").to_custom_config()
    assert all(json.dumps(values[name]) == json.dumps(getattr(config, name)) for name in selected)
