"""The pipeline's settings: one typed, frozen ``PipelineConfig``, each setting declared once with its help.

A preset (``configs/<name>.py``) builds one with its own pure ``get_config()``.
``get_config(preset, quick, output_root, **overrides)`` here is what runners, the cloud config and
tests call: the preset, then small budgets with ``quick``, then the overrides, then every path left
empty under ``output_root``. Building a config reads no files: what the data folder and a curated
schema say is added and checked by the runner (``pipeline/facts.py``). Each field is also a
command-line flag (``pipeline/flags.py``) and a key of the cloud config's ``pipeline:`` section, and
all three go through ``coerce``. Bounds are part of each declaration, so no value can ask for more
memory or processes than a run can give. This module imports no TensorFlow.
"""

import dataclasses
import importlib
import os
import typing
from typing import Tuple

from data.layout import MAX_IMAGE_SIDE
from models.hyperparameters import ALGORITHMS

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where runs write unless told otherwise; every command that finds a run reads the same.
OUTPUT_ROOT_ENV = "PIPELINE_OUTPUT_ROOT"
DEFAULT_OUTPUT_ROOT = "outputs"
PRESETS = ("digits", "mnist", "folder")  # configs/<name>.py
TUNING_MODES = ("tune", "reuse", "file", "off")
CHANNELS = (1, 3, 4)
MAX_TRAINER_WORKERS = 8
# What --quick replaces: enough to run every component, not to train a good model.
QUICK = dict(tuner_max_trials=1, tuner_epochs=1, tuner_examples=512, train_epochs=5, accuracy_lower_bound=0.5)


class ConfigError(ValueError):
    """The configuration is inconsistent, out of bounds or names something that does not exist."""


def setting(default, help: str, low=None, high=None, choices: tuple = ()):
    """A ``PipelineConfig`` field: its default, help, bounds (of a number, or each number of a tuple) and choices."""
    return dataclasses.field(default=default, metadata={"help": help, "low": low, "high": high, "choices": choices})


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything that varies between runs; runners add nothing but orchestration."""

    # The run: names, paths (empty: filled in under the output root by get_config) and Beam.
    pipeline_name: str = setting("digits-convnet", "the pipeline's name: its ML Metadata context and folders")
    data_root: str = setting("", "folder of prepared TFRecords (data.prepare); empty: <output root>/data/<preset>")
    pipeline_root: str = setting("", "where components write artifacts; empty: <output root>/pipelines/<name>")
    metadata_path: str = setting("", "ML Metadata SQLite file; empty: <output root>/metadata/<name>/metadata.db")
    serving_dir: str = setting("", "the Pusher's folder of versions; empty: <output root>/serving/<name>")
    log_dir: str = setting("", "a local run's log files, one per run; empty: <output root>/logs/<name>")
    beam_args: Tuple[str, ...] = setting(
        (), "Beam args of ExampleGen, StatisticsGen, Transform and Evaluator; empty: the in-process DirectRunner"
    )
    enable_cache: bool = setting(True, "reuse a component's outputs when its inputs, settings and code are unchanged")
    # The data.
    image_shape: Tuple[int, ...] = setting(
        (), "HEIGHT,WIDTH,CHANNELS of every image; empty: from the data or the schema", 1, MAX_IMAGE_SIDE
    )
    num_classes: int = setting(0, "classes (labels 0..N-1); 0: from the data's classes or the schema", 0, 1000)
    class_names: Tuple[str, ...] = setting((), "the classes' names, index = label; empty: the data's classes.json")
    schema_path: str = setting("", "curated schema (text format) that ImportSchemaGen imports")
    use_schema_gen: bool = setting(False, "infer the schema with SchemaGen instead of importing schema_path")
    split_buckets: Tuple[int, ...] = setting(
        (8, 1, 1), "hash buckets of train, eval, test: train fits, eval selects, test only blesses", 1, 1000
    )
    predefined_splits: bool = setting(
        False, "the data root holds train/, eval/ and test/ folders, read as they are (data.prepare --test-prefix)"
    )
    # Tuning: the Tuner's search, or where the Trainer's hyperparameters come from instead.
    tuning_mode: str = setting(
        "tune",
        "tune: search now; reuse: the newest stored best; file: hyperparameters_file; off: defaults",
        choices=TUNING_MODES,
    )
    tuner_algorithm: str = setting("random", "KerasTuner's search", choices=ALGORITHMS)
    search_space_file: str = setting("", "AI Platform hptuning-style params replacing the search space's ranges")
    hyperparameters_file: str = setting("", "fixed values for tuning_mode file: {name: value} or best_hyperparameters")
    tuner_max_trials: int = setting(3, "trials the search runs", 1, 1000)
    tuner_epochs: int = setting(1, "epochs of each trial", 1, 1000)
    tuner_examples: int = setting(
        2048, "training examples each trial sees (0: all): trials rank, the Trainer trains", 0
    )
    # Training.
    train_epochs: int = setting(6, "the Trainer's epochs; its one-cycle learning-rate schedule spans them", 1, 1000)
    batch_size: int = setting(64, "examples per step (per device)", 1, 4096)
    seed: int = setting(42, "seed of the split-independent randomness: weights, shuffles, the search", 0, 2**31 - 1)
    early_stopping_patience: int = setting(4, "epochs without a better eval accuracy before training stops", 1, 1000)
    input_cache_mb: int = setting(
        512, "Tuner and Trainer keep a split in memory when it fits this budget, else stream it", 0, 65536
    )
    trainer_workers: int = setting(
        1, "the Trainer as N processes on loopback with TF_CONFIG, as Vertex AI runs replicas", 1, MAX_TRAINER_WORKERS
    )
    # Evaluation: what the Evaluator blesses.
    accuracy_lower_bound: float = setting(0.9, "test accuracy a model needs to be blessed", 0.0, 1.0)
    regression_tolerance: float = setting(
        0.0, "how far test accuracy may fall below the served model's and still be blessed", 0.0, 1.0
    )

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check_bounds(field, getattr(self, field.name))
        if self.image_shape and (len(self.image_shape) != 3 or self.image_shape[2] not in CHANNELS):
            raise ConfigError(f"image_shape must be HEIGHT,WIDTH,CHANNELS, channels in {CHANNELS}: {self.image_shape}")
        if self.num_classes == 1:
            raise ConfigError("num_classes must be at least 2: a classifier of one class learns nothing")
        if self.class_names and self.num_classes and len(self.class_names) != self.num_classes:
            raise ConfigError(f"{len(self.class_names)} class_names for {self.num_classes} classes: {self.class_names}")
        if len(self.split_buckets) != 3:
            raise ConfigError(f"split_buckets must be three counts (train, eval, test), got {self.split_buckets}")
        if (self.tuning_mode == "file") != bool(self.hyperparameters_file):
            raise ConfigError("tuning_mode file and hyperparameters_file go together: give both or neither")


def check_bounds(field: dataclasses.Field, value) -> None:
    """Raises ConfigError when ``value`` is not among the field's choices or lies outside its bounds."""
    choices, low, high = (field.metadata.get(key) for key in ("choices", "low", "high"))
    if choices and value not in choices:
        raise ConfigError(f"{field.name} must be one of {', '.join(choices)}, got {value!r}")
    for number in value if isinstance(value, tuple) else (value,):
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            if (low is not None and number < low) or (high is not None and number > high):
                raise ConfigError(f"{field.name} must lie in [{low}, {'any' if high is None else high}], got {value!r}")


# get_config's own arguments: flags and cloud-config keys like the fields, with their help.
PRESET_HELP = (
    f"configs/<name>.py to start from: {', '.join(PRESETS)} "
    "(default: the preset data.prepare recorded in the data root, else digits)"
)
ARGUMENTS = {
    "preset": (str, PRESET_HELP),
    "quick": (bool, "small budgets (one 1-epoch trial, 5 epochs, accuracy bound 0.5): tests and smoke runs"),
    "output_root": (str, f"where the empty paths go; ${OUTPUT_ROOT_ENV} sets the default"),
}


def setting_type(name: str) -> tuple:
    """(type, element type or None) of a setting: a PipelineConfig field or one of ``ARGUMENTS``."""
    if name in ARGUMENTS:
        return ARGUMENTS[name][0], None
    hints = typing.get_type_hints(PipelineConfig)
    if name not in hints:
        raise ConfigError(f"{name}: not a setting (a PipelineConfig field, {', '.join(ARGUMENTS)})")
    if typing.get_origin(hints[name]) is tuple:
        return tuple, typing.get_args(hints[name])[0]
    return hints[name], None


def _is(kind: type, value) -> bool:
    """Whether ``value`` already has type ``kind`` (a bool is no number; an int is a float)."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, (int, float) if kind is float else kind)


def coerce(name: str, value):
    """The value of setting ``name`` as its field's type, or ConfigError naming the setting.

    The one path every setting takes, from keywords, the cloud config's ``pipeline:`` section
    (YAML/JSON values, so ``"5"`` is no int there) and the command line (``pipeline.flags``
    parses the text first). Lists become tuples and ints become floats where the field says so.
    """
    kind, item = setting_type(name)
    if kind is tuple:
        if not isinstance(value, (list, tuple)) or not all(_is(item, v) for v in value):
            raise ConfigError(f"{name} must be a list of {item.__name__}, got {value!r}")
        return tuple(value)
    if not _is(kind, value):
        raise ConfigError(f"{name} must be of type {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value


def preset_config(preset: str) -> PipelineConfig:
    """The ``get_config()`` of ``configs/<preset>.py``."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}: choose {', '.join(PRESETS)}")
    return importlib.import_module(f"configs.{preset}").get_config()


def get_config(
    preset: str = "digits", quick: bool = False, output_root: str = DEFAULT_OUTPUT_ROOT, **overrides
) -> PipelineConfig:
    """The preset's config, then ``quick`` budgets, then ``overrides`` (any field), then paths under ``output_root``."""
    unknown = set(overrides) - {field.name for field in dataclasses.fields(PipelineConfig)}
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values = {**(QUICK if quick else {}), **{key: coerce(key, value) for key, value in overrides.items()}}
    config = dataclasses.replace(preset_config(preset), **values)
    root, name = os.path.abspath(output_root), config.pipeline_name
    paths = dict(
        data_root=os.path.join(root, "data", preset),
        pipeline_root=os.path.join(root, "pipelines", name),
        metadata_path=os.path.join(root, "metadata", name, "metadata.db"),
        serving_dir=os.path.join(root, "serving", name),
        log_dir=os.path.join(root, "logs", name),
    )
    return dataclasses.replace(config, **{key: path for key, path in paths.items() if not getattr(config, key)})
