"""Device placement for the Tuner and Trainer: the one place that reads which GPUs are visible.

With several devices: MirroredStrategy over them, and on GPUs mixed precision (the model keeps
float32 probabilities, and models/export.py serves a float32 copy). GPU memory growth is set
through ``TF_FORCE_GPU_ALLOW_GROWTH`` by models/keras_env.py, before TensorFlow initialises a
device in any process of the project (setting it later fails once a device exists, which an
earlier in-process component has always made by the time the Trainer runs). Without GPUs:
TensorFlow's default strategy and float32, through the same code path.
"""

import keras
import tensorflow as tf
from absl import logging

MIXED_PRECISION = "mixed_float16"


def visible_gpus() -> list:
    """The physical GPUs TensorFlow can see."""
    return tf.config.list_physical_devices("GPU")


def strategy(devices: list) -> tf.distribute.Strategy:
    """The strategy to build under for ``devices`` (physical or logical devices, or their names).

    GPUs train in mixed precision; one device or none uses the default strategy.
    """
    names = [device if isinstance(device, str) else device.name for device in devices]
    gpus = [name for name in names if "GPU" in name.upper()]
    keras.mixed_precision.set_global_policy(MIXED_PRECISION if gpus else "float32")
    if len(names) < 2:
        return tf.distribute.get_strategy()
    logging.info("Training on %d devices (%s), %s", len(names), ", ".join(names), keras.mixed_precision.global_policy())
    return tf.distribute.MirroredStrategy(devices=[name.replace("physical_device:", "") for name in names])


def global_batch_size(per_replica: int, replicas: int) -> int:
    """The batch the input pipeline yields: each replica gets ``per_replica`` examples."""
    return per_replica * replicas
