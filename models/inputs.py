"""tf.data input for the Tuner and Trainer, read from Transform's output.

Training batches are reshuffled every epoch and each image is shifted by up to SHIFT_FRACTION
of its size each way (2 pixels on 28x28, 1 on 8x8), a fresh draw every epoch: the augmentation
the short one-cycle schedule needs to generalise (models/model.py). It lives here, not in the
model: Keras 3's random layers keep seed state that ``tf.saved_model.save`` cannot capture, and
the served model must not jitter.
"""

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public.tfxio import TensorFlowDatasetOptions

from models import devices, features
from models.preprocessing import decode_images
from models.settings import TrainingSettings, TuningSettings

SHUFFLE_BUFFER = 10_000
SHIFT_FRACTION = 0.08


def count_examples(file_patterns) -> int:
    """How many records Transform wrote to the files matching ``file_patterns``, read without parsing them."""
    patterns = [file_patterns] if isinstance(file_patterns, str) else file_patterns
    files = [path for pattern in patterns for path in tf.io.gfile.glob(pattern)]
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(records.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def shift(image: tf.Tensor, seed: int) -> tf.Tensor:
    """``image`` moved by up to SHIFT_FRACTION of its size each way (zero padding)."""
    height, width, channels = image.shape
    pad_y, pad_x = (max(1, round(size * SHIFT_FRACTION)) for size in (height, width))
    padded = tf.pad(image, [[pad_y, pad_y], [pad_x, pad_x], [0, 0]])
    return tf.image.random_crop(padded, [height, width, channels], seed=seed)


def dataset(
    file_pattern, data_accessor, tf_transform_output: tft.TFTransformOutput, image_shape, batch_size: int,
    train: bool, seed: int, limit: int = 0,
) -> tf.data.Dataset:  # fmt: skip
    """One pass over the transformed examples (the first ``limit`` of them, 0: all) as (image batch, label batch).

    The raw image bytes are cached in memory after the first epoch (MNIST-10k's train split is
    about 6 MB), so later epochs skip reading and parsing, and decoded batch by batch.
    """
    options = TensorFlowDatasetOptions(batch_size=batch_size, label_key=features.LABEL_XF, num_epochs=1, shuffle=False)
    data = data_accessor.tf_dataset_factory(file_pattern, options, tf_transform_output.transformed_metadata.schema)
    data = data.map(lambda x, y: (x[features.IMAGE_XF], y))
    if limit:
        data = data.unbatch().take(limit).batch(batch_size)
    data = data.cache()
    if train:
        data = data.unbatch().shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).batch(batch_size)

    def decode(images, labels):
        images = decode_images(images, image_shape)
        if train:
            images = tf.map_fn(lambda image: shift(image, seed), images)
        return images, labels

    return data.map(decode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def datasets(
    fn_args, tf_transform_output: tft.TFTransformOutput, settings: TrainingSettings | TuningSettings, replicas: int = 1,
    train_limit: int = 0,
):  # fmt: skip
    """The (train, eval) datasets for a Tuner or Trainer run, batched for ``replicas`` devices."""
    batch = devices.global_batch_size(settings.batch_size, replicas)
    common = dict(
        data_accessor=fn_args.data_accessor,
        tf_transform_output=tf_transform_output,
        image_shape=settings.image_shape,
        batch_size=batch,
    )
    train = dataset(fn_args.train_files, train=True, seed=settings.seed, limit=train_limit, **common)
    evaluation = dataset(fn_args.eval_files, train=False, seed=settings.seed, **common)
    return train, evaluation


def steps_per_epoch(examples: int, settings: TrainingSettings | TuningSettings, replicas: int = 1) -> int:
    """Batches in one pass over ``examples`` training examples (the last one may be short)."""
    batch = devices.global_batch_size(settings.batch_size, replicas)
    return max(1, -(-examples // batch))
