"""The JSON of a predict request and response (TF Serving's REST API), shared by the server and the CLI.

A request is ``{"instances": [...]}`` (row format) or ``{"inputs": ...}`` (columnar format), with
an optional ``"signature_name"``. One instance is one image, sent as any of:

* a pixel array: nested lists of ints in 0..255 of shape [height, width, channels], or
  [height, width] when channels is 1;
* ``{"b64": ...}``: base64 of the raw uint8 HWC pixel bytes (height*width*channels of them),
  of a PNG, or of a serialized tf.Example whose ``image`` feature holds the raw pixel bytes;
* ``{"image": <pixel array or {"b64": raw pixels or PNG}>}``: named by ``serving_image``'s input;
* ``{"examples": {"b64": <serialized tf.Example>}}``: named by ``serving_default``'s input.

Base64 may use the standard or the URL-safe alphabet, with or without padding and line breaks.
A bare ``{"b64": ...}`` is read as a PNG when it starts with the PNG signature (its header must
declare the model's height and width, and only the chunks that make its pixels are decoded:
serving/images.py), as raw pixels when it has exactly height*width*channels bytes, and otherwise
as a tf.Example. PNG is the one image format taken: raw pixels and PNG are lossless, as digits need. With
``"signature_name": "serving_default"`` it is always a tf.Example (what TF Serving does with this
model), with ``"serving_image"`` always an image; a named input must then belong to that signature.
Columnar ``"inputs"`` is a list of instances or ``{"image": [...]}`` / ``{"examples": [...]}``.

The response is ``{"predictions": [{"classes": 7, "probabilities": [...]}, ...]}`` for rows and
``{"outputs": {"classes": [...], "probabilities": [[...], ...]}}`` for columns.
"""

import json
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import message

from models import features
from serving.images import (
    PNG_SIGNATURE,
    InputError,
    decode_b64,
    kind_of,
    pixel_array,
    png_pixels,
    quoted,
    shape_text,
)
from serving.loaded_model import ServedModel

B64 = "b64"
ROWS = "instances"
COLUMNS = "inputs"
SIGNATURE_NAME = "signature_name"
# The C++ protobuf parser warns, rather than fails, when bytes stop at an end-group tag; the byte
# count ParseFromString returns shows it, and a client's bad bytes are a 400, not a server warning.
warnings.filterwarnings("ignore", message="Unexpected end-group tag", category=RuntimeWarning)
# What a value is read as; None lets each bare {"b64": ...} say for itself (see the module docstring).
PIXELS = "pixels"
EXAMPLE = "example"


def parse_request(body: bytes, model: ServedModel, max_instances: int) -> Tuple[List[bytes], bool]:
    """Decodes a predict request to raw pixel bytes per instance; returns them and whether it was columnar."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as e:  # ValueError covers UnicodeDecodeError; RecursionError deep nesting
        raise InputError(f"malformed JSON: {e}") from None
    if not isinstance(request, dict):
        raise InputError(f'the request must be a JSON object with "{ROWS}" or "{COLUMNS}", got {kind_of(request)}')
    if (ROWS in request) == (COLUMNS in request):
        raise InputError(f'the request needs exactly one of "{ROWS}" (row format) or "{COLUMNS}" (columnar format)')
    kind = signature_kind(request.get(SIGNATURE_NAME, ""), model)
    if ROWS in request:
        return decode_batch(request[ROWS], ROWS, model, kind, max_instances), False
    inputs = request[COLUMNS]
    if not isinstance(inputs, dict):
        return decode_batch(inputs, COLUMNS, model, kind, max_instances), True
    names = (model.image_input, model.examples_input)
    if len(inputs) != 1 or next(iter(inputs)) not in names:
        given = ", ".join(map(quoted, sorted(inputs)[:3])) + (", ..." if len(inputs) > 3 else "")
        raise InputError(
            f'"{COLUMNS}" must name one input, {" or ".join(map(repr, names))}; got {len(inputs)}: {given}'
        )
    ((name, values),) = inputs.items()
    values = [{name: value} for value in values] if isinstance(values, list) else values
    return decode_batch(values, f"{COLUMNS}.{name}", model, kind, max_instances), True


def signature_kind(signature_name, model: ServedModel) -> Optional[str]:
    """What a bare value is read as under ``signature_name`` ("" for the server's choice per instance)."""
    if not isinstance(signature_name, str):
        raise InputError(f'"{SIGNATURE_NAME}" must be a string, got {kind_of(signature_name)}')
    kinds = {"": None, model.image_signature: PIXELS, model.examples_signature: EXAMPLE}
    if signature_name not in kinds:
        raise InputError(
            f"unknown signature_name {quoted(signature_name)}: this model has {sorted(name for name in kinds if name)}"
        )
    return kinds[signature_name]


def decode_batch(values, where: str, model: ServedModel, kind: Optional[str], max_instances: int) -> List[bytes]:
    """Checks the batch's size and decodes each instance; errors name the instance's index."""
    if not isinstance(values, list):
        raise InputError(f"{where} must be a list of instances, got {kind_of(values)}")
    if not values:
        raise InputError(f"{where} is empty: send at least one instance")
    if len(values) > max_instances:
        raise InputError(f"{len(values)} instances in one request; the limit is {max_instances}")
    decoded = []
    for index, value in enumerate(values):
        try:
            decoded.append(decode_instance(value, model, kind))
        except InputError as e:
            raise InputError(f"{where}[{index}]: {e}") from None
    return decoded


def decode_instance(value, model: ServedModel, kind: Optional[str] = None) -> bytes:
    """The raw uint8 HWC pixel bytes of one instance (any form in the module docstring)."""
    if isinstance(value, dict) and len(value) == 1 and B64 not in value:
        ((name, inner),) = value.items()
        named = {model.image_input: PIXELS, model.examples_input: EXAMPLE}
        if name not in named:
            raise InputError(
                f"unknown input {quoted(name)}: an instance is a pixel array, {{{B64!r}: ...}}, "
                f"{{{model.image_input!r}: ...}} or {{{model.examples_input!r}: {{{B64!r}: ...}}}}"
            )
        if kind is not None and named[name] != kind:
            raise InputError(f"input {quoted(name)} does not belong to the requested signature")
        return _decode_value(inner, model, named[name])
    return _decode_value(value, model, kind)


def _decode_value(value, model: ServedModel, kind: Optional[str]) -> bytes:
    """Decodes a pixel array or a ``{"b64": ...}`` read as ``kind``."""
    if isinstance(value, list):
        if kind == EXAMPLE:
            raise InputError(f'a serialized tf.Example is sent as {{"{B64}": ...}}, not a list')
        return pixel_array(value, model.image_shape)
    if not isinstance(value, dict) or set(value) != {B64} or not isinstance(value[B64], str):
        raise InputError(f'expected a pixel array or {{"{B64}": "<base64>"}}, got {kind_of(value)}')
    data = decode_b64(value[B64])
    if kind == EXAMPLE:
        return _example_pixels(data, model)
    if data.startswith(PNG_SIGNATURE):
        return png_pixels(data, model.image_shape)
    if len(data) == model.image_bytes:
        return data
    if kind == PIXELS:
        raise InputError(
            f"expected {model.image_bytes} raw pixel bytes (uint8 {shape_text(model.image_shape)}) or a PNG, "
            f"got {len(data)} bytes"
        )
    try:
        return _example_pixels(data, model)
    except InputError as e:
        raise InputError(
            f"{len(data)} bytes are not {model.image_bytes} raw pixel bytes (uint8 {shape_text(model.image_shape)}), "
            f"not a PNG, and not a usable tf.Example: {e}"
        ) from None


def _example_pixels(data: bytes, model: ServedModel) -> bytes:
    """The raw pixel bytes in a serialized tf.Example's ``image`` feature."""
    example = tf.train.Example()
    try:
        parsed = example.ParseFromString(data)
    except message.DecodeError as e:
        raise InputError(f"not a serialized tf.Example ({e})") from None
    if parsed != len(data):
        raise InputError(f"not a serialized tf.Example (parsing stopped at byte {parsed} of {len(data)})")
    if features.IMAGE not in example.features.feature:
        raise InputError(f"the tf.Example has no {features.IMAGE!r} feature")
    values = example.features.feature[features.IMAGE].bytes_list.value
    if len(values) != 1 or len(values[0]) != model.image_bytes:
        raise InputError(
            f"the tf.Example's {features.IMAGE!r} feature must be one bytes value of {model.image_bytes} "
            f"raw pixel bytes (uint8 {shape_text(model.image_shape)})"
        )
    return values[0]


def row_response(outputs: Dict[str, np.ndarray]) -> dict:
    """``{"predictions": [...]}``: one object of every output per instance."""
    count = len(next(iter(outputs.values())))
    return {"predictions": [{name: array[i].tolist() for name, array in outputs.items()} for i in range(count)]}


def columnar_response(outputs: Dict[str, np.ndarray]) -> dict:
    """``{"outputs": {...}}``: each output batched."""
    return {"outputs": {name: array.tolist() for name, array in outputs.items()}}
