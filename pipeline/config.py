"""The pipeline's one typed, frozen configuration and the function that builds it.

``get_config(dataset, quick, **overrides)`` is the only constructor the runners and tests use
(the big_vision ``get_config(runlocal)`` idea): ``quick`` shrinks every budget so a test run
finishes fast, and every field can be overridden by keyword or, through ``parse_args``, from
the command line as ``--field-name value``.
"""

import argparse
import dataclasses
import functools
import json
import os
from typing import Sequence, Tuple

import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data.format import RECORD_SUFFIX
from models import features
from models import hyperparameters as hp_lib

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The files ImportExampleGen reads from the data root (what data.prepare writes).
RECORD_PATTERN = "*" + RECORD_SUFFIX

# Dataset presets: where their curated schema lives. Image shape and number of classes are
# read from that schema, so a new dataset needs a schema (or --use-schema-gen), not code.
SCHEMAS = {
    "digits": os.path.join(PROJECT_ROOT, "schema", "schema.pbtxt"),
    "mnist": os.path.join(PROJECT_ROOT, "schema", "mnist", "schema.pbtxt"),
}


class ConfigError(ValueError):
    """The configuration is inconsistent or names something that does not exist."""


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
    # Use SchemaGen's inferred schema instead of importing schema_path (a new dataset).
    use_schema_gen: bool = False
    # Hash buckets of the train and eval splits (4:1 sends 80% of the keys to train).
    split_buckets: Tuple[int, int] = (4, 1)
    # "tune": search now; "reuse": the latest best hyperparameters in the metadata store;
    # "file": fixed values from hyperparameters_file; "off": the search space's defaults.
    tuning_mode: str = "tune"
    tuner_algorithm: str = "random"
    # hptuning-style ranges replacing the default search space (tune mode), and fixed values.
    search_space_file: str = ""
    hyperparameters_file: str = ""
    tuner_max_trials: int = 3
    tuner_epochs: int = 2
    train_epochs: int = 20
    batch_size: int = 64
    early_stopping_patience: int = 4
    # Blessing: eval accuracy must reach the lower bound and may not fall below the
    # latest blessed model's by more than the tolerance.
    accuracy_lower_bound: float = 0.9
    regression_tolerance: float = 0.0
    beam_args: Tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    enable_cache: bool = True
    seed: int = 42
    baseline_strategy: str = BASELINE_STRATEGIES[0]

    def __post_init__(self):
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ConfigError(f"image_shape must be three positive sizes (height, width, channels): {self.image_shape}")
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2, got {self.num_classes}")
        if len(self.split_buckets) != 2 or min(self.split_buckets) < 1:
            raise ConfigError(f"split_buckets must be two positive counts (train, eval): {self.split_buckets}")
        if not 0.0 <= self.accuracy_lower_bound <= 1.0:
            raise ConfigError(f"accuracy_lower_bound must lie in [0, 1], got {self.accuracy_lower_bound}")
        for name in ("tuner_max_trials", "tuner_epochs", "train_epochs", "batch_size"):
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


def read_document(path: str):
    """Parses a JSON or YAML file: JSON first, since YAML 1.1 reads a JSON number like 1e-09 as a string."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: does not parse as YAML or JSON ({err})") from err


def schema_facts(schema_path: str) -> Tuple[Tuple[int, int, int], int]:
    """Reads (image_shape, num_classes) from the int domains of a curated schema."""
    try:
        with open(schema_path) as f:
            schema = text_format.Parse(f.read(), schema_pb2.Schema())
    except OSError as err:
        raise ConfigError(f"{schema_path}: cannot read schema ({err.strerror})") from err
    except text_format.ParseError as err:
        raise ConfigError(f"{schema_path}: not a schema in text format ({err})") from err
    domains = {f.name: f.int_domain for f in schema.feature if f.HasField("int_domain")}

    def fixed(name: str) -> int:
        domain = domains.get(name)
        if domain is None or domain.min != domain.max:
            raise ConfigError(f"{schema_path}: feature {name!r} needs an int_domain with min == max")
        return domain.min

    label = domains.get(features.LABEL)
    if label is None or label.min != 0:
        raise ConfigError(f"{schema_path}: feature {features.LABEL!r} needs an int_domain from 0")
    return tuple(fixed(k) for k in features.SHAPE_KEYS), label.max + 1


def get_config(
    dataset: str = "digits", quick: bool = False, output_root: str = "outputs", **overrides
) -> PipelineConfig:
    """Builds the config for ``dataset`` (a preset name); ``quick`` shrinks budgets for tests.

    Paths default to folders under ``output_root``; any field can be overridden by keyword.
    """
    if dataset not in SCHEMAS and "schema_path" not in overrides and not overrides.get("use_schema_gen"):
        raise ConfigError(f"unknown dataset {dataset!r}: choose {sorted(SCHEMAS)} or give schema_path")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(PipelineConfig)}
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    name = overrides.pop("pipeline_name", f"{dataset}-convnet")
    output_root = os.path.abspath(output_root)
    values = dict(
        pipeline_name=name,
        data_root=os.path.join(output_root, "data", dataset),
        pipeline_root=os.path.join(output_root, "pipelines", name),
        metadata_path=os.path.join(output_root, "metadata", name, "metadata.db"),
        serving_dir=os.path.join(output_root, "serving", name),
        schema_path=SCHEMAS.get(dataset, ""),
    )
    if quick:
        values.update(tuner_max_trials=1, tuner_epochs=1, train_epochs=3, accuracy_lower_bound=0.5)
    values.update(overrides)
    if values.get("use_schema_gen"):
        if "image_shape" not in values or "num_classes" not in values:
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
    values["image_shape"] = tuple(values["image_shape"])
    return PipelineConfig(**values)


def _parse_value(field: dataclasses.Field, text: str):
    """Parses a command-line string into the type of ``field``."""
    default = field.default
    if field.type is bool or isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise argparse.ArgumentTypeError(f"--{field.name.replace('_', '-')}: expected true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    if "Tuple" in str(field.type):
        parts = [p for p in text.split(",") if p]
        return tuple(parts) if "str" in str(field.type) else tuple(int(p) for p in parts)
    if field.type is int or isinstance(default, int):
        return int(text)
    if field.type is float or isinstance(default, float):
        return float(text)
    return text


def parse_args(argv: Sequence[str] | None = None, description: str = "") -> PipelineConfig:
    """Builds the config from command-line flags: ``--dataset``, ``--quick`` and one per field."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="digits", help=f"preset: {', '.join(SCHEMAS)}")
    parser.add_argument("--quick", action="store_true", help="small budgets, for tests and smoke runs")
    parser.add_argument("--output-root", default=os.environ.get("PIPELINE_OUTPUT_ROOT", "outputs"))
    fields = {f.name: f for f in dataclasses.fields(PipelineConfig)}
    for field in fields.values():
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=lambda text, field=field: _parse_value(field, text),
            default=argparse.SUPPRESS,
            help="comma-separated" if "Tuple" in str(field.type) else None,
        )
    args = vars(parser.parse_args(argv))
    dataset, quick, output_root = args.pop("dataset"), args.pop("quick"), args.pop("output_root")
    return get_config(dataset, quick=quick, output_root=output_root, **args)
