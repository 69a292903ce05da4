"""Writes and reads the project's TFRecord format (features named in ``models.features``)."""

import os
from typing import Iterable, Iterator

import numpy as np
import tensorflow as tf

from console.errors import UsageError
from data.layout import RECORD_SUFFIX
from data.sources import LabeledImage
from models import features


def to_example(item: LabeledImage) -> tf.train.Example:
    """Encodes one labeled image as a ``tf.train.Example`` in the project's format."""
    image = np.asarray(item.image)
    if image.ndim != 3 or image.dtype != np.uint8:
        raise UsageError(
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


class ShardWriter:
    """Writes examples round-robin into ``num_shards`` files ``<name>-i-of-n.tfrecord`` in ``out_dir``.

    The split does not depend on the sharding: ImportExampleGen picks it from a hash of each
    example's key. ``count`` is how many examples were written.
    """

    def __init__(self, out_dir: str, name: str, num_shards: int = 1):
        if num_shards < 1:
            raise UsageError(f"num_shards must be at least 1, got {num_shards}")
        os.makedirs(out_dir, exist_ok=True)
        self.paths = [
            os.path.join(out_dir, f"{name}-{i:05d}-of-{num_shards:05d}{RECORD_SUFFIX}") for i in range(num_shards)
        ]
        self._writers = [tf.io.TFRecordWriter(path) for path in self.paths]
        self.count = 0

    def write(self, item: LabeledImage) -> None:
        """Appends one example to the next shard."""
        self._writers[self.count % len(self._writers)].write(to_example(item).SerializeToString())
        self.count += 1

    def close(self) -> None:
        """Flushes and closes every shard."""
        for writer in self._writers:
            writer.close()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def write_records(items: Iterable[LabeledImage], out_dir: str, name: str, num_shards: int = 1) -> list:
    """Writes ``items`` round-robin into ``num_shards`` files in ``out_dir``; returns the paths written."""
    with ShardWriter(out_dir, name, num_shards) as writer:
        for item in items:
            writer.write(item)
    return writer.paths


def read_records(path_pattern: str) -> Iterator[tf.train.Example]:
    """Yields the examples stored in the files matching ``path_pattern``, file by file."""
    for path in sorted(tf.io.gfile.glob(path_pattern)):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            yield tf.train.Example.FromString(record)
