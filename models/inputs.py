"""tf.data input for the Tuner and Trainer, read from Transform's output files.

It reads the transformed TFRecords itself (with Transform's feature spec) rather than through
TFX's data accessor, so a training worker started outside TFX's executor (multiworker/worker.py) reads
the same way, and each worker of a multi-worker run can take its own shard of the records.
Training batches are reshuffled every epoch and each image is shifted by up to SHIFT_FRACTION
of its size each way (2 pixels on 28x28, 1 on 8x8), a fresh draw every epoch: the augmentation
the short one-cycle schedule needs to generalise (models/model.py). It lives here, not in the
model: Keras 3's random layers keep seed state that ``tf.saved_model.save`` cannot capture, and
the served model must not jitter.
"""

import hashlib
import heapq
import logging
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models import devices, features
from models.preprocessing import decode_images
from models.settings import TrainingSettings, TuningSettings

SHUFFLE_BUFFER = 10_000
SHIFT_FRACTION = 0.08
RECORD_OVERHEAD_BYTES = 16  # a cached example beyond its pixels: the label and tensor bookkeeping
log = logging.getLogger(__name__)
# tf.data's autotuning is off for a split held in memory, where reading costs nothing to tune; its
# AUTOTUNE parallel calls stay at tf.data's default, the runner's threads (at most 16). With it on, a
# new iterator made while another autotuned one lived waited about a second, and deleting one at the
# end of a fit waited out the autotuner's sleep: 7-9 s after seven MNIST epochs, in three fits of
# four. A split streamed from disk keeps it: without it a 1M epoch streamed 12% slower (BUILD_NOTES.md).
NOT_AUTOTUNED = tf.data.Options()
NOT_AUTOTUNED.autotune.enabled = False


def _files(file_patterns) -> list:
    """The files matching one pattern or a list of them (TFX hands lists)."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else file_patterns
    return sorted(path for pattern in patterns for path in tf.io.gfile.glob(pattern))


def count_examples(file_patterns) -> int:
    """How many records Transform wrote to the files matching ``file_patterns``, read without parsing them."""
    records = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP")
    return int(records.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def fits_in_cache(examples: int, image_shape: Sequence[int], budget_mb: int, what: str) -> bool:
    """Whether ``examples`` decoded-to-bytes examples fit the in-memory cache budget; the decision is logged.

    Within the budget a split is read and parsed once and later epochs come from memory; past it,
    every epoch streams from disk through the shuffle buffer, so memory stays bounded by the
    configuration, not by the data's size.
    """
    needed = examples * (int(np.prod(image_shape)) + RECORD_OVERHEAD_BYTES)
    fits = needed <= budget_mb * 1024 * 1024
    how = "cached after the first pass" if fits else "streamed from disk every epoch"
    log.info("%s: %d examples, about %.0f MB: %s (budget %d MB)", what, examples, needed / 2**20, how, budget_mb)
    return fits


def shift(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``image`` moved by up to SHIFT_FRACTION of its size each way (zero padding), drawn from ``seed`` (shape [2])."""
    height, width, channels = image.shape
    pad_y, pad_x = (max(1, round(size * SHIFT_FRACTION)) for size in (height, width))
    padded = tf.pad(image, [[pad_y, pad_y], [pad_x, pad_x], [0, 0]])
    return tf.image.stateless_random_crop(padded, [height, width, channels], seed=seed)


def shift_batch(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Each image of a batch shifted with its own draw from the batch's ``seed``.

    Stateless draws: a stateful random op in a parallel map would hand its draws to whichever
    image runs first, so two runs would shift different images differently.
    """
    seeds = tf.random.experimental.stateless_split(seed, tf.shape(images)[0])
    return tf.map_fn(lambda args: shift(*args), (images, seeds), fn_output_signature=images.dtype)


def _parsed(records: tf.data.Dataset, feature_spec: dict, batch_size: int) -> tf.data.Dataset:
    """Batches of (image bytes, labels) from serialized transformed records."""
    parsed = records.batch(batch_size).map(lambda batch: tf.io.parse_example(batch, feature_spec))
    return parsed.map(lambda example: (example[features.IMAGE_XF], example[features.LABEL_XF]))


def content_ordered(file_patterns, feature_spec: dict, limit: int = 0) -> tf.data.Dataset:
    """A split's (image bytes, label) pairs in an order fixed by their content, not by the files: its first
    ``limit`` (0: all) in that order.

    The files' order is whatever ImportExampleGen's Beam bundles made of the data's files (TFX's
    own executor even shuffled every run), and the order decides which examples a ``limit`` keeps
    and what the seeded shuffle yields: two runs could train on different subsets in different
    orders. Ordering by a digest of the parsed content (a record's serialized bytes may differ)
    keeps similar images apart, and only ``limit`` examples are ever held when there is one.
    """
    records = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP")

    def keyed():
        for images, labels in _parsed(records, feature_spec, 1024).as_numpy_iterator():
            for image, label in zip(images, labels, strict=True):
                yield hashlib.blake2b(image + label.tobytes(), digest_size=8).digest(), image, int(label)

    chosen = heapq.nsmallest(limit, keyed()) if limit else sorted(keyed())
    images = tf.constant([image for _, image, _ in chosen], tf.string)
    return tf.data.Dataset.from_tensor_slices((images, tf.constant([label for *_, label in chosen], tf.int64)))


def dataset(
    file_patterns,
    feature_spec: dict,
    image_shape: Sequence[int],
    batch_size: int,
    train: bool,
    seed: int,
    limit: int = 0,
    shard: Tuple[int, int] = (1, 0),
    repeat: bool = False,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batches of (images, labels) from the transformed records: shard ``shard[1]`` of ``shard[0]``, the
    first ``limit`` records (0: all; of a cached training split, the first in content order), once or repeated.

    With ``cache`` the raw image bytes stay in memory after the first pass (``fits_in_cache``
    decides), so later epochs skip reading and parsing; they are decoded batch by batch. A cached
    training split is read in ``content_ordered`` order, so the same data and seed give the same
    batches and shifts, however the files order it.
    """
    if cache and train:  # in memory, in content order
        data = content_ordered(file_patterns, feature_spec, limit)
        if shard[0] > 1:
            data = data.shard(*shard)
        data = data.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    else:
        data = tf.data.TFRecordDataset(_files(file_patterns), compression_type="GZIP")
        if shard[0] > 1:
            data = data.shard(*shard)
        if limit:
            data = data.take(limit)
        data = _parsed(data, feature_spec, batch_size)
        if cache:
            data = data.cache()
        if train:
            data = data.unbatch().shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if repeat:
        data = data.repeat()
    if not train:
        decode_only = data.map(
            lambda images, labels: (decode_images(images, image_shape), labels), num_parallel_calls=tf.data.AUTOTUNE
        )
        return _prefetched(decode_only, cache)
    # One seed pair per batch, a new stream every epoch, the same streams every run.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def decode(batch, seed_pair):
        images, labels = batch
        return shift_batch(decode_images(images, image_shape), seed_pair), labels

    shifted = tf.data.Dataset.zip(data, seeds).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return _prefetched(shifted, cache)


def _prefetched(data: tf.data.Dataset, in_memory: bool) -> tf.data.Dataset:
    """``data`` prefetched; not autotuned when its split is in memory (``NOT_AUTOTUNED``), autotuned when streamed."""
    data = data.prefetch(tf.data.AUTOTUNE)
    return data.with_options(NOT_AUTOTUNED) if in_memory else data


def fit_inputs(
    fn_args,
    tf_transform_output: tft.TFTransformOutput,
    settings: TrainingSettings | TuningSettings,
    train_examples: int,
    replicas: int = 1,
    train_limit: int = 0,
) -> dict:
    """``model.fit``'s input arguments for a Tuner or single-worker Trainer run, batched for ``replicas`` devices:
    the train and eval datasets and the steps that make one pass over the train split.

    ``train_examples`` is how many train examples they read (``count_examples``, at most ``train_limit``),
    counted once by the caller. The train split is repeated, with its steps per epoch, so it keeps one
    iterator for the whole fit: without the count Keras makes a new one every epoch.
    """
    budget, shape = settings.input_cache_mb, settings.image_shape
    train_cache = fits_in_cache(train_examples, shape, budget, "train split")
    eval_cache = fits_in_cache(count_examples(fn_args.eval_files), shape, budget, "eval split")
    common = dict(
        feature_spec=tf_transform_output.transformed_feature_spec(),
        image_shape=settings.image_shape,
        batch_size=devices.global_batch_size(settings.batch_size, replicas),
        seed=settings.seed,
    )
    return {
        "x": dataset(fn_args.train_files, train=True, limit=train_limit, cache=train_cache, repeat=True, **common),
        "validation_data": dataset(fn_args.eval_files, train=False, cache=eval_cache, **common),
        "steps_per_epoch": steps_per_epoch(train_examples, settings, replicas),
    }


def steps_per_epoch(examples: int, settings: TrainingSettings | TuningSettings, replicas: int = 1) -> int:
    """Batches in one pass over ``examples`` training examples (the last one may be short)."""
    batch = devices.global_batch_size(settings.batch_size, replicas)
    return max(1, -(-examples // batch))
