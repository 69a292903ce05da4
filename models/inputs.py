"""tf.data input for the Tuner and Trainer, read from Transform's output."""

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public.tfxio import TensorFlowDatasetOptions

from models import devices, features
from models.settings import TrainingSettings, TuningSettings

SHUFFLE_BUFFER = 10_000


def dataset(
    file_pattern, data_accessor, tf_transform_output: tft.TFTransformOutput, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    """One pass over the transformed examples as (image batch, label batch).

    Parsed examples are cached in memory after the first epoch (MNIST-10k's transformed train
    split is about 25 MB), so later epochs skip reading and parsing; the training order is
    reshuffled every epoch from the cache.
    """
    options = TensorFlowDatasetOptions(batch_size=batch_size, label_key=features.LABEL_XF, num_epochs=1, shuffle=False)
    data = data_accessor.tf_dataset_factory(file_pattern, options, tf_transform_output.transformed_metadata.schema)
    data = data.map(lambda x, y: (x[features.IMAGE_XF], y)).cache()
    if shuffle:
        data = data.unbatch().shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return data.prefetch(tf.data.AUTOTUNE)


def datasets(
    fn_args, tf_transform_output: tft.TFTransformOutput, settings: TrainingSettings | TuningSettings, replicas: int = 1
):
    """The (train, eval) datasets for a Tuner or Trainer run, batched for ``replicas`` devices."""
    batch = devices.global_batch_size(settings.batch_size, replicas)
    common = dict(data_accessor=fn_args.data_accessor, tf_transform_output=tf_transform_output, batch_size=batch)
    train = dataset(fn_args.train_files, shuffle=True, seed=settings.seed, **common)
    evaluation = dataset(fn_args.eval_files, shuffle=False, seed=settings.seed, **common)
    return train, evaluation
