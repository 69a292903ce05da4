"""Device placement for the Tuner and Trainer: the one place that reads which GPUs are visible.

With GPUs: MirroredStrategy over all of them, mixed precision (the model keeps float32
probabilities), and memory growth so Beam workers sharing the card do not each grab all of it.
Without: TensorFlow's default strategy and float32, through the same code path.
"""

import keras
import tensorflow as tf
from absl import logging

MIXED_PRECISION = "mixed_float16"


def visible_gpus() -> list:
    """The physical GPUs TensorFlow can see (tests replace this function to fake devices)."""
    return tf.config.list_physical_devices("GPU")


def strategy(gpus: list) -> tf.distribute.Strategy:
    """Configures memory growth and precision for ``gpus`` and returns the strategy to build under."""
    if not gpus:
        keras.mixed_precision.set_global_policy("float32")
        return tf.distribute.get_strategy()
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            # Already initialized by an earlier component in this process, which set it then.
            logging.info("GPU %s already initialized; keeping its memory settings", gpu)
    keras.mixed_precision.set_global_policy(MIXED_PRECISION)
    logging.info("Training on %d GPU(s) with %s", len(gpus), MIXED_PRECISION)
    return tf.distribute.MirroredStrategy()


def global_batch_size(per_replica: int, replicas: int) -> int:
    """The batch the input pipeline yields: each replica gets ``per_replica`` examples."""
    return per_replica * replicas
