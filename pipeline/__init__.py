"""The TFX pipeline: config, ``create_pipeline`` and the runners."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)
