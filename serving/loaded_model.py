"""One loaded model version: its signatures, image shape and predict (serving/manager.py decides which are loaded)."""

import functools
import json
import os
from typing import Dict, Iterator, Sequence, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2, struct_pb2

from models import features
from serving import versions

# TensorFlow's own entry in signature_def, not a signature clients call; TF Serving hides it too.
INIT_OP_SIGNATURE = "__saved_model_init_op"


class ModelError(Exception):
    """A version folder that holds no model this package can serve."""


def read_meta_graph(version_dir: str) -> meta_graph_pb2.MetaGraphDef:
    """The one MetaGraphDef of the SavedModel in ``version_dir`` (what ``tf.saved_model.save`` writes)."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, versions.SAVED_MODEL_FILE), "rb") as f:
        saved_model.ParseFromString(f.read())
    if len(saved_model.meta_graphs) != 1:
        raise ModelError(f"{version_dir}: expected one MetaGraphDef, found {len(saved_model.meta_graphs)}")
    return saved_model.meta_graphs[0]


def image_shape_of(meta_graph: meta_graph_pb2.MetaGraphDef) -> Tuple[int, int, int]:
    """The (height, width, channels) that the model's transform graph reshapes raw pixel bytes to.

    The export stores no shape metadata, but the SavedModel's object graph records the output
    TensorSpec of every concrete function, and those of the transform graph and its Keras layer
    return the transformed image as [batch, height, width, channels]
    (``models/preprocessing.py`` reshapes to the ``image_shape`` of Transform's custom_config).
    """
    shapes = set()
    for function in meta_graph.object_graph_def.concrete_functions.values():
        shapes.update(_transformed_image_shapes(function.output_signature))
    if len(shapes) != 1:
        raise ModelError(
            f"expected one shape for the transformed {features.IMAGE_XF!r}, found {sorted(shapes) or 'none'}"
        )
    return shapes.pop()


def _transformed_image_shapes(value: struct_pb2.StructuredValue) -> Iterator[Tuple[int, int, int]]:
    """Yields the (height, width, channels) of each fully known ``features.IMAGE_XF`` TensorSpec inside ``value``."""
    kind = value.WhichOneof("kind")
    if kind == "dict_value":
        for key, field in value.dict_value.fields.items():
            if key == features.IMAGE_XF and field.WhichOneof("kind") == "tensor_spec_value":
                dims = tuple(dim.size for dim in field.tensor_spec_value.shape.dim)
                if len(dims) == 4 and min(dims[1:]) > 0:
                    yield dims[1:]
            else:
                yield from _transformed_image_shapes(field)
    elif kind in ("list_value", "tuple_value"):
        for item in getattr(value, kind).values:
            yield from _transformed_image_shapes(item)


def read_class_names(version_dir: str) -> list:
    """The class names exported with the model (``features.CLASS_NAMES_FILE``), or [] when it has none."""
    path = os.path.join(version_dir, features.CLASS_NAMES_FILE)
    if not os.path.isfile(path):
        return []
    try:
        with open(path) as f:
            names = json.load(f)
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: not a JSON list of class names ({err})") from err
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ModelError(f"{path}: not a JSON list of class names")
    return names


class ServedModel:
    """One loaded version, warmed up: ``predict`` takes raw pixel bytes of ``image_shape``.

    Every request runs the signature that takes ``features.IMAGE`` (``serving_image``); the
    server decodes serialized tf.Examples itself, so one batch may mix both kinds of instance.
    """

    def __init__(self, version: int, path: str):
        meta_graph = read_meta_graph(path)
        self.batcher = None  # the server's serving.batching.Batcher for this version when batching is on
        self.version = version
        self.image_shape = image_shape_of(meta_graph)
        self.class_names = read_class_names(path)
        self.image_bytes = int(np.prod(self.image_shape))
        self.signature_defs = {k: v for k, v in meta_graph.signature_def.items() if k != INIT_OP_SIGNATURE}
        self.image_input = features.IMAGE
        self.image_signature = features.IMAGE_SIGNATURE
        self.examples_signature = features.EXAMPLES_SIGNATURE
        for signature in (self.image_signature, self.examples_signature):
            if signature not in self.signature_defs:
                raise ModelError(f"{path}: no {signature!r} signature")
        (self.examples_input,) = self.signature_defs[self.examples_signature].inputs
        # The loaded object owns the variables; the signature alone would lose them to garbage collection.
        self._loaded = tf.saved_model.load(path)
        self._predict = self._loaded.signatures[self.image_signature]
        # The first call initializes the function; doing it here keeps that off the first request.
        self.predict([bytes(self.image_bytes)])

    def predict(self, images: Sequence[bytes]) -> Dict[str, np.ndarray]:
        """Runs the model on raw uint8 HWC pixel bytes; returns each output as a batch-first array."""
        outputs = self._predict(**{self.image_input: tf.constant(list(images), dtype=tf.string)})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    @functools.cached_property
    def metadata(self) -> dict:
        """TF Serving's ``metadata``: the signature defs, plus ``image_shape``, ``pixel_range``, ``class_names``."""
        signature_defs = {
            name: json_format.MessageToDict(
                signature, including_default_value_fields=True, preserving_proto_field_name=True
            )
            for name, signature in self.signature_defs.items()
        }
        metadata = {
            "signature_def": {"signature_def": signature_defs},
            "image_shape": list(self.image_shape),
            "pixel_range": list(features.PIXEL_RANGE),
        }
        return {**metadata, "class_names": self.class_names} if self.class_names else metadata


def load(version: int, path: str) -> ServedModel:
    """Loads and warms up the version in ``path``; any failure is a ModelError naming the folder and the cause."""
    try:
        return ServedModel(version, path)
    except ModelError:
        raise
    except Exception as err:  # a bad graph proto, missing or truncated variables, a wrong signature: all "cannot load"
        cause = (str(err).strip().splitlines() or [""])[0]
        raise ModelError(f"{path}: cannot load the SavedModel ({type(err).__name__}: {cause})") from err
