"""The pipeline's one typed, frozen configuration and the function that builds it.

``get_config(dataset, quick, **overrides)`` is the only constructor the runners and tests use
(the big_vision ``get_config(runlocal)`` idea): ``quick`` shrinks every budget so a test run
finishes fast, and every field can be overridden by keyword, from the command line as
``--field-name value`` (``parse_args``) or from the cloud config's ``pipeline:`` section; all
three go through ``coerce``. This module imports no TensorFlow.
"""

import dataclasses
import functools
import os
import typing
from typing import Tuple

from models import hyperparameters as hp_lib
from pipeline.facts import ConfigError, data_facts, read_document, schema_facts

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where runs write unless --output-root says otherwise; every command that finds a run reads the same.
OUTPUT_ROOT_ENV = "PIPELINE_OUTPUT_ROOT"
DEFAULT_OUTPUT_ROOT = "outputs"

# Dataset presets: where their curated schema lives. Image shape and number of classes are
# read from that schema, so a new dataset needs a schema (or --use-schema-gen), not code.
SCHEMAS = {
    "digits": os.path.join(PROJECT_ROOT, "schema", "schema.pbtxt"),
    "mnist": os.path.join(PROJECT_ROOT, "schema", "mnist", "schema.pbtxt"),
}
# Training budgets per preset: the one-cycle schedule needs a few hundred steps, which the
# 1,437 training digits (23 batches) take 20 epochs to give and MNIST-10k (125 batches) seven;
# the digits' 162-example eval split is noisy enough that patience 4 stopped mid-schedule.
# Other datasets get the field defaults; any flag overrides these.
PRESET_BUDGETS = {
    "digits": {"train_epochs": 20, "tuner_epochs": 3, "early_stopping_patience": 10},
    "mnist": {"train_epochs": 7, "tuner_epochs": 1},
}


TUNING_MODES = ("tune", "reuse", "file", "off")
# How the Evaluator's baseline is resolved (pipeline/baseline.py): "latest_blessed_other" leaves
# the candidate out, so a re-run stays cached; "latest_blessed" is TFX's stock strategy, the only
# kind the Kubeflow V2 (Vertex) compiler accepts.
BASELINE_STRATEGIES = ("latest_blessed_other", "latest_blessed")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything that varies between runs; runners add nothing but orchestration."""

    pipeline_name: str
    data_root: str
    pipeline_root: str
    metadata_path: str
    serving_dir: str
    schema_path: str
    image_shape: Tuple[int, int, int]
    num_classes: int
    # Where a local run writes its log file, one per run (local/console.py); unused off this machine.
    log_dir: str = ""
    # The classes' names, index = label (an image-folder dataset's classes.json by default): the
    # served model's metadata and the predict CLI name each class with them.
    class_names: Tuple[str, ...] = ()
    # Use SchemaGen's inferred schema instead of importing schema_path (a new dataset).
    use_schema_gen: bool = False
    # Hash buckets of the train, eval and test splits (8:1:1 sends 80% of the keys to train).
    # train fits the model, eval selects it (tuning objective, early stopping, learning-rate
    # schedule), test only blesses it, so the accuracy that gates a push was never tuned on.
    split_buckets: Tuple[int, int, int] = (8, 1, 1)
    # The data root holds train/, eval/ and test/ folders (data.prepare --test-prefix) that
    # ImportExampleGen reads as they are, e.g. MNIST's own t10k files as the test split.
    predefined_splits: bool = False
    # "tune": search now; "reuse": the latest best hyperparameters in the metadata store;
    # "file": fixed values from hyperparameters_file; "off": the search space's defaults.
    tuning_mode: str = "tune"
    tuner_algorithm: str = "random"
    # hptuning-style ranges replacing the default search space (tune mode), and fixed values.
    search_space_file: str = ""
    hyperparameters_file: str = ""
    tuner_max_trials: int = 3
    tuner_epochs: int = 1
    # Training examples each Tuner trial sees (0: all): trials rank candidates, the Trainer trains.
    tuner_examples: int = 2048
    # The one-cycle learning-rate schedule spans all of them (models/model.py).
    train_epochs: int = 6
    # Tuner and Trainer keep a split's examples in memory only when they fit this budget, and
    # stream them from disk every epoch otherwise (models/inputs.py).
    input_cache_mb: int = 512
    # The Trainer as this many processes on loopback with TF_CONFIG, as Vertex AI runs replicas
    # (models/launcher.py); a cloud run asks for replicas in the cloud config instead.
    trainer_workers: int = 1
    batch_size: int = 64
    early_stopping_patience: int = 4
    # Blessing: eval accuracy must reach the lower bound and may not fall below the
    # latest blessed model's by more than the tolerance.
    accuracy_lower_bound: float = 0.9
    regression_tolerance: float = 0.0
    # Empty: Beam's DirectRunner defaults (in-process, one worker). Any argument makes TFX package
    # itself for remote workers before every Beam-powered component (about 1 s each), which a
    # local run does not need; give them for --direct_running_mode=multi_processing or Dataflow.
    beam_args: Tuple[str, ...] = ()
    enable_cache: bool = True
    seed: int = 42
    baseline_strategy: str = BASELINE_STRATEGIES[0]

    def __post_init__(self):
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ConfigError(f"image_shape must be three positive sizes (height, width, channels): {self.image_shape}")
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(f"{len(self.class_names)} class_names for {self.num_classes} classes: {self.class_names}")
        if len(self.split_buckets) != 3 or min(self.split_buckets) < 1:
            raise ConfigError(f"split_buckets must be three positive counts (train, eval, test): {self.split_buckets}")
        if not 0.0 <= self.accuracy_lower_bound <= 1.0:
            raise ConfigError(f"accuracy_lower_bound must lie in [0, 1], got {self.accuracy_lower_bound}")
        if self.tuner_examples < 0:
            raise ConfigError(f"tuner_examples must be 0 (all) or positive, got {self.tuner_examples}")
        for name in ("tuner_max_trials", "tuner_epochs", "train_epochs", "batch_size", "trainer_workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        self._check_tuning()
        if self.baseline_strategy not in BASELINE_STRATEGIES:
            raise ConfigError(f"baseline_strategy must be one of {BASELINE_STRATEGIES}, got {self.baseline_strategy!r}")

    def _check_tuning(self) -> None:
        if self.tuning_mode not in TUNING_MODES:
            raise ConfigError(f"tuning_mode must be one of {TUNING_MODES}, got {self.tuning_mode!r}")
        if self.tuner_algorithm not in hp_lib.ALGORITHMS:
            raise ConfigError(f"tuner_algorithm must be one of {hp_lib.ALGORITHMS}, got {self.tuner_algorithm!r}")
        if (self.tuning_mode == "file") != bool(self.hyperparameters_file):
            raise ConfigError("tuning_mode file and hyperparameters_file go together: give both or neither")
        # Parsed once here, so a bad file fails before anything runs, and kept for the pipeline.
        _ = self.search_space_params, self.fixed_hyperparameters

    @functools.cached_property
    def search_space_params(self) -> list:
        """The validated search-space overrides from ``search_space_file`` (empty when unset)."""
        if not self.search_space_file:
            return []
        try:
            return hp_lib.parse_search_space(read_document(self.search_space_file))
        except hp_lib.HyperparameterError as err:
            raise ConfigError(f"{self.search_space_file}: {err}") from err

    @functools.cached_property
    def fixed_hyperparameters(self) -> dict:
        """The validated fixed values from ``hyperparameters_file`` (empty when unset)."""
        if not self.hyperparameters_file:
            return {}
        try:
            return hp_lib.parse_fixed_values(read_document(self.hyperparameters_file))
        except hp_lib.HyperparameterError as err:
            raise ConfigError(f"{self.hyperparameters_file}: {err}") from err


# get_config's own arguments, settable wherever a field is (command line, the cloud config's `pipeline:`).
PRESET_ARGUMENTS = {"dataset": str, "quick": bool}


def setting_type(name: str) -> tuple:
    """(type, element type or None) of a setting: a PipelineConfig field, ``dataset`` or ``quick``."""
    if name in PRESET_ARGUMENTS:
        return PRESET_ARGUMENTS[name], None
    hints = typing.get_type_hints(PipelineConfig)
    if name not in hints:
        raise ConfigError(f"{name}: not a PipelineConfig field, nor dataset or quick")
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


def get_config(
    dataset: str = "digits", quick: bool = False, output_root: str = DEFAULT_OUTPUT_ROOT, **overrides
) -> PipelineConfig:
    """Builds the config for ``dataset`` (a preset name); ``quick`` shrinks budgets for tests.

    Paths default to folders under ``output_root``; any field can be overridden by keyword.
    """
    if dataset not in SCHEMAS and "schema_path" not in overrides and not overrides.get("use_schema_gen"):
        raise ConfigError(f"unknown dataset {dataset!r}: choose {sorted(SCHEMAS)} or give schema_path")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(PipelineConfig)}
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    overrides = {key: coerce(key, value) for key, value in overrides.items()}
    name = overrides.pop("pipeline_name", f"{dataset}-convnet")
    output_root = os.path.abspath(output_root)
    values = dict(
        pipeline_name=name,
        data_root=os.path.join(output_root, "data", dataset),
        pipeline_root=os.path.join(output_root, "pipelines", name),
        metadata_path=os.path.join(output_root, "metadata", name, "metadata.db"),
        serving_dir=os.path.join(output_root, "serving", name),
        log_dir=os.path.join(output_root, "logs", name),
        schema_path=SCHEMAS.get(dataset, ""),
    )
    values.update(PRESET_BUDGETS.get(dataset, {}))  # then quick budgets, then explicit overrides
    if quick:
        values.update(tuner_max_trials=1, tuner_epochs=1, tuner_examples=512, train_epochs=5, accuracy_lower_bound=0.5)
    values.update(overrides)
    found = data_facts(values["data_root"])  # what data.prepare recorded next to the records
    values.setdefault("class_names", found.get("class_names", ()))
    if values.get("use_schema_gen"):
        values.setdefault("image_shape", found.get("image_shape"))
        if values["class_names"]:
            values.setdefault("num_classes", len(values["class_names"]))
        if not values["image_shape"] or "num_classes" not in values:
            raise ConfigError("use_schema_gen needs image_shape and num_classes: there is no curated schema")
    else:
        shape, classes = schema_facts(values["schema_path"])
        values.setdefault("image_shape", shape)
        values.setdefault("num_classes", classes)
        if (tuple(values["image_shape"]), values["num_classes"]) != (shape, classes):
            raise ConfigError(
                f"{values['schema_path']} describes images {shape} with {classes} classes, but the config "
                f"says {tuple(values['image_shape'])} with {values['num_classes']}"
            )
    return PipelineConfig(**values)
