"""What the runner reads on disk to complete and check a config: the data folder, a curated schema, documents.

``complete(config)`` adds what the data says (``prepared.json`` and ``classes.json``, which
``data.prepare`` writes next to the records) and what a curated schema says (the int domains of
the shape features and the label), and refuses a config that disagrees with either. TensorFlow-free
for local files (protobuf text format and ``tensorflow_metadata``'s protos only), so the command
lines check quickly; a schema on ``gs://`` (any ``scheme://`` path) is read through TensorFlow's file
API, loaded only then.
"""

import dataclasses
import json
import os
from typing import Optional, Tuple

import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data.layout import CLASSES_FILE, MARKER
from models import features
from models import hyperparameters as hp_lib
from pipeline.config import PRESETS, ConfigError, PipelineConfig


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
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"{path}: does not parse as YAML or JSON ({problem}{where})") from None


def _read_text(path: str) -> str:
    """A text file's contents: local paths with ``open``, ``gs://`` and other schemes with ``tf.io.gfile``."""
    if "://" not in path:
        try:
            with open(path) as f:
                return f.read()
        except OSError as err:
            raise ConfigError(f"{path}: cannot read schema ({err.strerror})") from err
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    except tf.errors.OpError as err:
        raise ConfigError(f"{path}: cannot read schema ({err.message or type(err).__name__})") from err


def schema_facts(schema_path: str) -> Tuple[Tuple[int, int, int], int]:
    """Reads (image_shape, num_classes) from the int domains of a curated schema."""
    try:
        schema = text_format.Parse(_read_text(schema_path), schema_pb2.Schema())
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


def data_facts(data_root: str) -> dict:
    """What data.prepare recorded about a local data folder: ``source``, ``image_shape``, ``class_names`` when known."""
    if "://" in data_root:
        return {}  # read at run time by the components, not to build a config
    try:
        with open(os.path.join(data_root, MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        marker = {}
    facts = {key: marker[key] for key in ("source",) if isinstance(marker.get(key), str)}
    if marker.get("image_shape"):
        facts["image_shape"] = tuple(marker["image_shape"])
    path = os.path.join(data_root, CLASSES_FILE)
    try:
        with open(path) as f:
            names = json.load(f)
    except OSError:
        return facts
    except ValueError as err:
        raise ConfigError(f"{path}: not a JSON list of class names ({err})") from err
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"{path}: not a JSON list of class names")
    return {**facts, "class_names": tuple(names)}


def default_preset(data_root: Optional[str]) -> str:
    """The preset for a data folder: the one named by the source data.prepare recorded there, else digits."""
    source = data_facts(data_root).get("source") if data_root else None
    return source if source in PRESETS else "digits"


def complete(config: PipelineConfig) -> PipelineConfig:
    """``config`` with what the data folder and the curated schema say; ConfigError where they disagree with it."""
    found = data_facts(config.data_root)
    values = {
        "image_shape": config.image_shape or found.get("image_shape", ()),
        "class_names": config.class_names or found.get("class_names", ()),
    }
    values["num_classes"] = config.num_classes or len(values["class_names"])
    if not config.use_schema_gen:
        if not config.schema_path:
            raise ConfigError("no schema: give schema_path (a curated schema) or use_schema_gen")
        shape, classes = schema_facts(config.schema_path)
        values["image_shape"] = values["image_shape"] or shape
        values["num_classes"] = values["num_classes"] or classes
        if (tuple(values["image_shape"]), values["num_classes"]) != (shape, classes):
            raise ConfigError(
                f"{config.schema_path} describes images {shape} with {classes} classes, but the config "
                f"says {tuple(values['image_shape'])} with {values['num_classes']}"
            )
    if not values["image_shape"] or not values["num_classes"]:
        raise ConfigError(
            f"{config.data_root}: no image shape or classes recorded there (not written by data.prepare?): "
            "give image_shape and num_classes, or a curated schema"
        )
    return dataclasses.replace(config, **values)


def search_space(config: PipelineConfig) -> list:
    """The validated hptuning-style overrides of ``config.search_space_file`` (empty when unset)."""
    if not config.search_space_file:
        return []
    try:
        return hp_lib.parse_search_space(read_document(config.search_space_file))
    except hp_lib.HyperparameterError as err:
        raise ConfigError(f"{config.search_space_file}: {err}") from err


def fixed_hyperparameters(config: PipelineConfig) -> dict:
    """The validated fixed values of ``config.hyperparameters_file`` (empty when unset)."""
    if not config.hyperparameters_file:
        return {}
    try:
        return hp_lib.parse_fixed_values(read_document(config.hyperparameters_file))
    except hp_lib.HyperparameterError as err:
        raise ConfigError(f"{config.hyperparameters_file}: {err}") from err
