"""What a config is filled from on disk: JSON/YAML documents, a curated schema, a prepared data folder.

TensorFlow-free for local files (protobuf text format and ``tensorflow_metadata``'s protos only),
so the cloud command line reads configs quickly; a schema on ``gs://`` (any ``scheme://`` path)
is read through TensorFlow's file API, loaded only then.
"""

import json
import os
from typing import Tuple

import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from console.errors import UsageError
from data.layout import CLASSES_FILE, MARKER
from models import features


class ConfigError(UsageError):
    """The configuration is inconsistent or names something that does not exist."""


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
    """What data.prepare recorded about a local data folder: ``image_shape`` and ``class_names`` when known."""
    facts = {}
    if data_root.startswith("gs://"):
        return facts  # read at run time by the components, not to build a config
    try:
        with open(os.path.join(data_root, MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        marker = {}
    if marker.get("image_shape"):
        facts["image_shape"] = tuple(marker["image_shape"])
    try:
        with open(os.path.join(data_root, CLASSES_FILE)) as f:
            facts["class_names"] = tuple(json.load(f))
    except OSError:
        pass
    except ValueError as err:
        raise ConfigError(f"{os.path.join(data_root, CLASSES_FILE)}: not a JSON list of class names ({err})") from err
    return facts
