"""Dataset preparation: converts sources into the project's TFRecord format."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)


class DataError(ValueError):
    """A source, image or output folder that cannot be converted or written; the message names it."""
