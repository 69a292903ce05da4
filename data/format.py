"""Writes and reads the project's TFRecord format (features named in ``models.features``)."""

import os
from typing import Iterable, Iterator

import numpy as np
import tensorflow as tf

from data import DataError
from data.layout import RECORD_SUFFIX
from data.sources import LabeledImage
from models import features


def to_example(item: LabeledImage) -> tf.train.Example:
    """Encodes one labeled image as a ``tf.train.Example`` in the project's format."""
    image = np.asarray(item.image)
    if image.ndim != 3 or image.dtype != np.uint8:
        raise DataError(
            f"example {item.key!r}: image must be uint8 of shape (height, width, channels), "
            f"got {image.dtype} {image.shape}"
        )

    def int64(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    def raw(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    height, width, channels = image.shape
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.KEY: raw(item.key.encode()),
                features.IMAGE: raw(image.tobytes()),
                features.HEIGHT: int64(height),
                features.WIDTH: int64(width),
                features.CHANNELS: int64(channels),
                features.LABEL: int64(item.label),
            }
        )
    )


# A new file every this many bytes when no shard count is given: MNIST-10k fits one, a million
# images make several, which Beam's readers take in parallel.
SHARD_BYTES = 128 * 1024 * 1024


class ShardWriter:
    """Writes examples into files ``<name>-i-of-n.tfrecord`` in ``out_dir``, streaming.

    With ``num_shards``, round-robin into that many files; without, a new file whenever the
    current one passes ``shard_bytes`` (the names get their count once ``close`` knows it). The
    split does not depend on the sharding: ImportExampleGen picks it from a hash of each example's
    key. ``count`` is how many examples were written; ``paths`` the files, once closed.
    """

    def __init__(self, out_dir: str, name: str, num_shards: int = 0, shard_bytes: int = SHARD_BYTES):
        if num_shards < 0:
            raise DataError(f"num_shards must be at least 1 (or 0: by size), got {num_shards}")
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir, self.name, self.num_shards, self.shard_bytes = out_dir, name, num_shards, shard_bytes
        self.paths = [self._path(i, num_shards) for i in range(num_shards)] or [self._path(0, 0)]
        self._writers = [tf.io.TFRecordWriter(path) for path in self.paths]
        self.count, self._bytes, self._closed = 0, 0, False

    def _path(self, index: int, total: int) -> str:
        of = f"-of-{total:05d}" if total else ""
        return os.path.join(self.out_dir, f"{self.name}-{index:05d}{of}{RECORD_SUFFIX}")

    def write(self, item: LabeledImage) -> None:
        """Appends one example to the next shard."""
        record = to_example(item).SerializeToString()
        if not self.num_shards and self._bytes and self._bytes + len(record) > self.shard_bytes:
            self._writers[-1].close()
            self.paths.append(self._path(len(self.paths), 0))
            self._writers.append(tf.io.TFRecordWriter(self.paths[-1]))
            self._bytes = 0
        writer = self._writers[self.count % self.num_shards] if self.num_shards else self._writers[-1]
        writer.write(record)
        self.count += 1
        self._bytes += len(record)

    def close(self) -> None:
        """Flushes and closes every shard; files written by size get their final ``-of-n`` names."""
        if self._closed:
            return
        self._closed = True
        for writer in self._writers:
            writer.close()
        if not self.num_shards:
            final = [self._path(i, len(self.paths)) for i in range(len(self.paths))]
            for old, new in zip(self.paths, final, strict=True):
                os.replace(old, new)
            self.paths = final

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def write_records(items: Iterable[LabeledImage], out_dir: str, name: str, num_shards: int = 1) -> list:
    """Writes ``items`` round-robin into ``num_shards`` files in ``out_dir`` (0: by size); returns the paths."""
    with ShardWriter(out_dir, name, num_shards) as writer:
        for item in items:
            writer.write(item)
    return writer.paths


def read_records(path_pattern: str) -> Iterator[tf.train.Example]:
    """Yields the examples stored in the files matching ``path_pattern``, file by file."""
    for path in sorted(tf.io.gfile.glob(path_pattern)):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            yield tf.train.Example.FromString(record)
