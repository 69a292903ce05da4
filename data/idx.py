"""Reads MNIST's IDX files (optionally gzip-compressed), streaming: memory stays flat whatever their size.

IDX header: two zero bytes, a type code (0x08 is unsigned byte, the only one MNIST uses), the
number of dimensions, then one big-endian uint32 size per dimension; the data follows.
"""

import contextlib
import gzip
import os
import struct
import zlib
from typing import IO, Iterator, Tuple

import numpy as np

from data import DataError

_UBYTE = 0x08
CHUNK_RECORDS = 4096  # records read per file read: a few MB, whatever the file's size


class IdxError(DataError):
    """An IDX file is missing, truncated, corrupted or not what the caller expected."""


@contextlib.contextmanager
def _opened(path: str) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed on the fly when it is gzip; read errors name the file."""
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            yield gzip.GzipFile(fileobj=raw) if compressed else raw
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise IdxError(f"{path}: corrupted or truncated gzip data ({err})") from err
    except OSError as err:
        raise IdxError(f"{path}: cannot read IDX file: {err.strerror or err}") from err


def _header(f: IO[bytes], path: str) -> Tuple[int, ...]:
    """The shape in an IDX header, read from ``f``."""
    magic = f.read(4)
    if len(magic) < 4 or magic[:2] != b"\x00\x00":
        raise IdxError(f"{path}: not an IDX file (bad magic number)")
    type_code, ndim = magic[2], magic[3]
    if type_code != _UBYTE:
        raise IdxError(f"{path}: unsupported IDX element type 0x{type_code:02x} (only unsigned byte)")
    sizes = f.read(4 * ndim)
    if ndim == 0 or len(sizes) < 4 * ndim:
        raise IdxError(f"{path}: truncated IDX header")
    return struct.unpack(f">{ndim}I", sizes)


def shape_of(path: str) -> Tuple[int, ...]:
    """The shape an IDX file's header declares, without reading its data."""
    with _opened(path) as f:
        return _header(f, path)


def records(path: str) -> Iterator[np.ndarray]:
    """Yields the file's records (its data split along the first dimension) one at a time.

    Raises IdxError, naming the file, when the data is shorter or longer than the header promises.
    """
    with _opened(path) as f:
        shape = _header(f, path)
        size = int(np.prod(shape[1:]))
        read = 0
        for start in range(0, shape[0], CHUNK_RECORDS):
            count = min(CHUNK_RECORDS, shape[0] - start)
            chunk = f.read(count * size)
            read += len(chunk)
            if len(chunk) < count * size:
                break
            yield from np.frombuffer(chunk, dtype=np.uint8).reshape((count, *shape[1:]))
        read += len(f.read())
    expected = int(np.prod(shape))
    if read != expected:
        raise IdxError(
            f"{path}: header promises {expected} bytes of data for shape {shape}, file holds {read} "
            "(truncated or corrupted)"
        )


def pair_count(images_path: str, labels_path: str) -> int:
    """The number of examples in a matching pair of IDX files, from their headers; checks they match."""
    images, labels = shape_of(images_path), shape_of(labels_path)
    if len(images) != 3:
        raise IdxError(f"{images_path}: expected 3 dimensions (count, rows, cols), got shape {images}")
    if len(labels) != 1:
        raise IdxError(f"{labels_path}: expected 1 dimension (count), got shape {labels}")
    if images[0] != labels[0]:
        raise IdxError(f"{images_path} holds {images[0]} images but {labels_path} holds {labels[0]} labels")
    return images[0]


def images_and_labels(images_path: str, labels_path: str) -> Iterator[Tuple[np.ndarray, int]]:
    """Yields (image (H, W, 1) uint8, label) from a matching pair of IDX files, streaming both."""
    pair_count(images_path, labels_path)
    for image, label in zip(records(images_path), records(labels_path), strict=True):
        yield image[..., np.newaxis], int(label)


def read_images_and_labels(images_path: str, labels_path: str) -> tuple:
    """Reads a matching pair of IDX files whole: images (N, H, W, 1) uint8 and labels (N,) int64."""
    pairs = list(images_and_labels(images_path, labels_path))
    images = np.stack([image for image, _ in pairs])
    return images, np.array([label for _, label in pairs], dtype=np.int64)


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
