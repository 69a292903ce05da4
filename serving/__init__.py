"""Serving the pushed model: a TF Serving-style REST server and a predict CLI (benchmarks/serving.py measures it)."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)
