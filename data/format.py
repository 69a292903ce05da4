"""Writes and reads the project's TFRecord format (features named in ``models.features``)."""

import os
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import tensorflow as tf

from console.errors import UsageError
from data.layout import RECORD_SUFFIX
from models import features


class LabeledImage(NamedTuple):
    """One example: a stable key, a uint8 image of shape (height, width, channels), a label."""

    key: str
    image: np.ndarray
    label: int


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


def write_records(items: Iterable[LabeledImage], out_dir: str, name: str, num_shards: int = 1) -> list:
    """Writes ``items`` round-robin into ``num_shards`` files ``<name>-i-of-n.tfrecord``.

    Returns the paths written. The split does not depend on the sharding: ImportExampleGen
    picks it from a hash of each example's key.
    """
    if num_shards < 1:
        raise UsageError(f"num_shards must be at least 1, got {num_shards}")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"{name}-{i:05d}-of-{num_shards:05d}{RECORD_SUFFIX}") for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(path) for path in paths]
    try:
        for index, item in enumerate(items):
            writers[index % num_shards].write(to_example(item).SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    return paths


def read_records(path_pattern: str) -> Iterator[tf.train.Example]:
    """Yields the examples stored in the files matching ``path_pattern``, file by file."""
    for path in sorted(tf.io.gfile.glob(path_pattern)):
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            yield tf.train.Example.FromString(record)
