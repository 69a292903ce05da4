"""The Tuner's and Trainer's input: cached only within its memory budget, the same examples either way."""

import numpy as np
import tensorflow as tf

from models import inputs


def write_transformed(path, count: int) -> dict:
    """``count`` examples as Transform writes them (raw 4x4x1 bytes, a label); returns their feature spec."""
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for i in range(count):
            feature = {
                "image_xf": tf.train.Feature(bytes_list=tf.train.BytesList(value=[bytes([i % 256]) * 16])),
                "label_xf": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return {"image_xf": tf.io.FixedLenFeature([], tf.string), "label_xf": tf.io.FixedLenFeature([], tf.int64)}


def test_a_split_is_cached_only_when_it_fits_the_budget():
    assert inputs.fits_in_cache(1000, (28, 28, 1), budget_mb=1, what="train")  # 0.8 MB
    assert not inputs.fits_in_cache(10_000, (28, 28, 1), budget_mb=1, what="train")  # 8 MB


def test_streamed_and_cached_splits_yield_the_same_examples(tmp_path):
    spec = write_transformed(tmp_path / "split.gz", 50)
    assert inputs.count_examples(str(tmp_path / "*.gz")) == 50
    common = dict(feature_spec=spec, image_shape=(4, 4, 1), batch_size=8, train=False, seed=0)
    cached = inputs.dataset(str(tmp_path / "*.gz"), cache=True, **common)
    streamed = inputs.dataset(str(tmp_path / "*.gz"), cache=False, **common)
    for _ in range(2):  # a second pass comes from the cache, or from disk again
        a = [(x.numpy(), y.numpy()) for x, y in cached]
        b = [(x.numpy(), y.numpy()) for x, y in streamed]
        np.testing.assert_array_equal(np.concatenate([x for x, _ in a]), np.concatenate([x for x, _ in b]))
        np.testing.assert_array_equal(np.concatenate([y for _, y in a]), np.arange(50) % 3)
    shard = inputs.dataset(str(tmp_path / "*.gz"), shard=(2, 1), **common)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in shard]), (np.arange(1, 50, 2)) % 3)
