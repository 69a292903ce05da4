"""Reads MNIST's IDX files (optionally gzip-compressed) into numpy arrays.

IDX header: two zero bytes, a type code (0x08 is unsigned byte, the only one MNIST uses), the
number of dimensions, then one big-endian uint32 size per dimension; the data follows.
"""

import gzip
import os
import struct
import zlib

import numpy as np

from console.errors import UsageError

_UBYTE = 0x08


class IdxError(UsageError):
    """An IDX file is missing, truncated, corrupted or not what the caller expected."""


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise IdxError(f"{path}: cannot read IDX file: {err.strerror}") from err
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise IdxError(f"{path}: corrupted or truncated gzip data ({err})") from err


def read_idx(path: str) -> np.ndarray:
    """Returns the uint8 array stored in the IDX file at ``path``."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise IdxError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    if type_code != _UBYTE:
        raise IdxError(f"{path}: unsupported IDX element type 0x{type_code:02x} (only unsigned byte)")
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise IdxError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape))
    actual = len(raw) - header_size
    if actual != expected:
        raise IdxError(
            f"{path}: header promises {expected} bytes of data for shape {shape}, file holds {actual} "
            "(truncated or corrupted)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_images_and_labels(images_path: str, labels_path: str) -> tuple:
    """Reads a matching pair of IDX files: images (N, H, W, 1) uint8 and labels (N,) int64."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise IdxError(f"{images_path}: expected 3 dimensions (count, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise IdxError(f"{labels_path}: expected 1 dimension (count), got shape {labels.shape}")
    if len(images) != len(labels):
        raise IdxError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    return images[..., np.newaxis], labels.astype(np.int64)


def find_pairs(directory: str) -> list:
    """Returns ``(prefix, images_path, labels_path)`` for each IDX pair in ``directory``.

    Pairs are named like MNIST's: ``<prefix>-images-idx3-ubyte[.gz]`` and
    ``<prefix>-labels-idx1-ubyte[.gz]``.
    """
    if not os.path.isdir(directory):
        raise IdxError(f"{directory}: no such directory")
    names = sorted(os.listdir(directory))
    pairs = []
    for name in names:
        if "-images-idx3-ubyte" not in name:
            continue
        prefix, _, suffix = name.partition("-images-idx3-ubyte")
        label_name = f"{prefix}-labels-idx1-ubyte{suffix}"
        if label_name not in names:
            raise IdxError(f"{os.path.join(directory, name)}: no matching labels file {label_name}")
        pairs.append((prefix, os.path.join(directory, name), os.path.join(directory, label_name)))
    if not pairs:
        raise IdxError(f"{directory}: no '<prefix>-images-idx3-ubyte[.gz]' files found")
    return pairs
