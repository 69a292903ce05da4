"""Model code run by Transform, Tuner and Trainer: features, preprocessing, model, tuning."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)
