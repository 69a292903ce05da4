"""The bytes of one image value: a pixel array, base64 text, a PNG; and InputError for what a client got wrong.

A PNG's size is read from its IHDR chunk, which the PNG standard fixes as the first chunk with
the width and height at bytes 16 to 24, and checked against the model's shape before anything is
decoded. Then its chunks are walked with ``struct`` and only those that make the pixels (IHDR,
PLTE, tRNS, IDAT, IEND) are handed to the decoder, with at most what the model's pixel count can
need of image data. Every other chunk is dropped unread: libpng (``tf.io.decode_png``), like
Pillow's ``Image.open``, inflates each compressed text or colour-profile chunk (zTXt, iTXt, iCCP)
in full, up to 8 MB each, so that a 300 KB PNG cost 300 MB; none of them changes the pixels
TensorFlow decodes (it applies no gamma or colour profile).
"""

import base64
import binascii
import itertools
import re
import struct
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from serving import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR = struct.Struct(">I4sII")  # the first chunk's length and type, then width and height (big-endian)
_IHDR_LENGTH = 13
_CHUNK_HEAD = struct.Struct(">I4s")  # a chunk's data length and type; its data and a 4-byte CRC follow
_CRC_BYTES = 4
_PIXEL_CHUNKS = frozenset([b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"])  # what decoding the pixels reads
_MAX_BYTES_PER_PIXEL = 8  # 16-bit RGBA, PNG's widest pixel
QUOTED_CHARACTERS = 40  # how much of a client's string an error message repeats
# Which characters a base64 text may hold: the standard alphabet or the URL-safe one (RFC 4648).
_NOT_STANDARD = re.compile(r"[^A-Za-z0-9+/=]")
_NOT_URLSAFE = re.compile(r"[^A-Za-z0-9\-_=]")


def decode_b64(text: str) -> bytes:
    """The bytes of base64 ``text``: standard or URL-safe alphabet, padding optional, line breaks ignored."""
    if any(space in text for space in " \t\r\n"):
        text = "".join(text.split())  # MIME base64 wraps lines at 76 characters
    urlsafe = "-" in text or "_" in text
    bad = (_NOT_URLSAFE if urlsafe else _NOT_STANDARD).search(text)
    if bad is not None:
        if urlsafe and bad.group() in "+/":
            raise InputError("invalid base64: it mixes the standard (+/) and the URL-safe (-_) alphabets")
        raise InputError(f"invalid base64: {bad.group()!r} at offset {bad.start()} is not a base64 character")
    unpadded = text.rstrip("=")
    if "=" in unpadded or len(unpadded) % 4 == 1:
        raise InputError(f"invalid base64: {len(unpadded)} characters and padding do not make whole bytes")
    padded = unpadded + "=" * (-len(unpadded) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
    except binascii.Error as e:  # checked above; kept so that a gap in those checks is still a 400
        raise InputError(f"invalid base64: {e}") from None


def pixel_array(value: list, shape: Tuple[int, int, int]) -> bytes:
    """The bytes of a nested-list pixel array of ``shape`` (or height x width when one channel)."""
    allowed = [shape] + ([shape[:2]] if shape[2] == 1 else [])
    try:
        array = np.asarray(value)
    except ValueError:  # ragged, or nested deeper than numpy's 32 dimensions: explained below
        array = None
    if (
        array is not None
        and array.dtype.kind in "iu"
        and array.shape in allowed
        and array.min() >= 0
        and array.max() <= 255
        and not _holds_booleans(value, array.ndim)
    ):
        return array.astype(np.uint8).tobytes()
    raise InputError(_first_problem(value, allowed))


def _holds_booleans(value: list, ndim: int) -> bool:
    """Whether a nested list that numpy read as integers holds a JSON true or false (numpy reads them as 1, 0)."""
    leaves = value
    for _ in range(ndim - 1):
        leaves = itertools.chain.from_iterable(leaves)
    return bool in set(map(type, leaves))


def _first_problem(value, allowed: List[Tuple[int, ...]]) -> str:
    """What is wrong with a pixel array that is not one of the ``allowed`` shapes of ints in 0..255."""
    depth, inner = 0, value
    while isinstance(inner, list) and inner and depth <= len(allowed[0]):
        depth, inner = depth + 1, inner[0]
    shape = allowed[-1] if depth == len(allowed[-1]) else allowed[0]
    expected = " or ".join(shape_text(s) for s in allowed)
    problem = _walk(value, shape, "")
    return f"{problem} (a pixel array has shape {expected})" if problem else f"not a pixel array of shape {expected}"


def _walk(value, shape: Sequence[int], where: str) -> Optional[str]:
    """The first place where ``value`` is not an array of ``shape`` of ints in 0..255; None when it is."""
    if not shape:
        if type(value) is int and 0 <= value <= 255:
            return None
        return f"pixel {where} is {_describe(value)}: pixels are integers in 0..255"
    if not isinstance(value, list):
        return f"{where or 'the pixel array'} is {kind_of(value)}, where an array of {shape[0]} belongs"
    if len(value) != shape[0]:
        return f"{where or 'the pixel array'} has {len(value)} entries, where {shape[0]} belong"
    for index, item in enumerate(value):
        problem = _walk(item, shape[1:], f"{where}[{index}]")
        if problem:
            return problem
    return None


def _describe(value) -> str:
    """A pixel value that is wrong, for an error message."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value}, outside 0..255"
    if isinstance(value, str):
        return f"{quoted(value)} (a string)"
    if isinstance(value, float):
        return f"{value!r} (a number)"
    return kind_of(value)


def png_pixels(data: bytes, shape: Tuple[int, int, int]) -> bytes:
    """The pixels of a PNG of the model's ``shape`` (converted to its channels); its chunks are checked first."""
    if len(data) < len(PNG_SIGNATURE) + _IHDR.size:
        raise InputError(f"bad PNG: {len(data)} bytes end before its IHDR header")
    length, chunk, width, height = _IHDR.unpack_from(data, len(PNG_SIGNATURE))
    if chunk != b"IHDR" or length != _IHDR_LENGTH:
        raise InputError("bad PNG: its first chunk is not an IHDR header")
    if (height, width) != tuple(shape[:2]):
        raise InputError(f"the PNG is {height}x{width}, the model takes {shape[0]}x{shape[1]}")
    try:
        image = tf.io.decode_png(_pixel_chunks(data, height, width), channels=shape[2], dtype=tf.uint8).numpy()
    except tf.errors.InvalidArgumentError as e:
        raise InputError(f"bad PNG: {e.message}") from None
    return image.tobytes()


def _pixel_chunks(data: bytes, height: int, width: int) -> bytes:
    """The PNG rebuilt from the chunks that make its pixels (see the module docstring), up to its IEND chunk."""
    # The most image data a height x width PNG can need: every row of the widest pixels with its filter byte
    # (twice, for Adam7 interlacing's extra rows and an encoder that compresses nothing), and some slack.
    max_image_data = 2 * height * (2 + width * _MAX_BYTES_PER_PIXEL) + 1024
    kept, offset, image_data = [PNG_SIGNATURE], len(PNG_SIGNATURE), 0
    while True:
        if offset + _CHUNK_HEAD.size > len(data):
            raise InputError(f"bad PNG: its {len(data)} bytes end without an IEND chunk")
        length, kind = _CHUNK_HEAD.unpack_from(data, offset)
        end = offset + _CHUNK_HEAD.size + length + _CRC_BYTES
        if end > len(data):
            raise InputError(f"bad PNG: chunk {kind!r} at byte {offset} runs past its end at byte {len(data)}")
        if kind == b"IDAT":
            image_data += length
            if image_data > max_image_data:
                raise InputError(
                    f"bad PNG: more than {max_image_data:,} bytes of image data, the most {height}x{width} pixels need"
                )
        if kind in _PIXEL_CHUNKS:
            kept.append(data[offset:end])
        if kind == b"IEND":
            return b"".join(kept)
        offset = end


def quoted(text: str) -> str:
    """A client's string for an error message: quoted, and cut short when long (the message stays small)."""
    if len(text) <= QUOTED_CHARACTERS:
        return repr(text)
    return f"{text[:QUOTED_CHARACTERS]!r}... ({len(text)} characters)"


def shape_text(shape) -> str:
    """A shape as ``28x28x1``."""
    return "x".join(str(size) for size in shape)


def kind_of(value) -> str:
    """The JSON type of ``value``, for an error message."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}
    return "null" if value is None else names.get(type(value), "a number")
