"""The Tuner's and Trainer's input: cached only within its memory budget, the same examples either way."""

import types

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


def batches(pattern: str, spec: dict, epochs: int = 2) -> list:
    """Every (images, labels) batch of ``epochs`` passes over a cached training split of 30 of the examples."""
    common = dict(feature_spec=spec, image_shape=(4, 4, 1), batch_size=8, train=True, seed=3, limit=30, cache=True)
    data = inputs.dataset(pattern, **common)
    return [[(x.numpy(), y.numpy()) for x, y in data] for _ in range(epochs)]


def test_a_cached_training_split_gives_the_same_batches_and_shifts_whatever_the_files_order(tmp_path):
    spec = write_transformed(tmp_path / "one.gz", 50)
    records = list(tf.data.TFRecordDataset([str(tmp_path / "one.gz")], compression_type="GZIP").as_numpy_iterator())
    np.random.default_rng(1).shuffle(records)  # another run's ImportExampleGen: another order, two files
    (tmp_path / "other").mkdir()
    for i, part in enumerate((records[:20], records[20:])):
        with tf.io.TFRecordWriter(str(tmp_path / "other" / f"{i}.gz"), options="GZIP") as writer:
            for record in part:
                writer.write(record)
    first, second = batches(str(tmp_path / "one.gz"), spec), batches(str(tmp_path / "other" / "*.gz"), spec)
    for epoch_a, epoch_b in zip(first, second, strict=True):
        for (images_a, labels_a), (images_b, labels_b) in zip(epoch_a, epoch_b, strict=True):
            np.testing.assert_array_equal(images_a, images_b)
            np.testing.assert_array_equal(labels_a, labels_b)
    assert sum(len(labels) for _, labels in first[0]) == 30
    # Each epoch draws new shifts and a new order.
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first[0], first[1], strict=True))


def test_fit_inputs_pass_over_the_train_split_once_per_epoch_from_one_iterator(tmp_path):
    spec = write_transformed(tmp_path / "train.gz", 50)
    write_transformed(tmp_path / "eval.gz", 20)
    fn_args = types.SimpleNamespace(train_files=[str(tmp_path / "train.gz")], eval_files=[str(tmp_path / "eval.gz")])
    transform_output = types.SimpleNamespace(transformed_feature_spec=lambda: spec)
    settings = types.SimpleNamespace(input_cache_mb=1, image_shape=(4, 4, 1), batch_size=8, seed=3)
    fit = inputs.fit_inputs(fn_args, transform_output, settings, train_examples=50)
    assert fit["steps_per_epoch"] == 7  # the last batch holds 2
    iterator = iter(fit["x"])
    epochs = [[next(iterator) for _ in range(fit["steps_per_epoch"])] for _ in range(2)]
    for epoch in epochs:  # each pass of the one iterator is one epoch: every example once
        assert [len(labels) for _, labels in epoch] == [8] * 6 + [2]
        # Every pixel of example i is i, so a shifted image's brightest pixel still names it.
        names = np.concatenate([np.round(images.numpy().max(axis=(1, 2, 3)) * 255) for images, _ in epoch])
        assert sorted(names) == list(range(50))
    assert not np.array_equal(epochs[0][0][1], epochs[1][0][1])  # reshuffled
    assert sum(len(labels) for _, labels in fit["validation_data"]) == 20
    # Held in memory, not autotuned: a new iterator starts at once and a finished one is deleted at once.
    assert fit["x"].options().autotune.enabled is False
    assert fit["validation_data"].options().autotune.enabled is False
    settings.input_cache_mb = 0  # streamed from disk: autotuned
    streamed = inputs.fit_inputs(fn_args, transform_output, settings, train_examples=50)
    assert streamed["x"].options().autotune.enabled is not False
    assert streamed["validation_data"].options().autotune.enabled is not False
