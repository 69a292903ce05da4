"""Serving the pushed model: a TF Serving-style REST server, a predict CLI and a benchmark."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)
