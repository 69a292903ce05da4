"""Serving the pushed model: a TF Serving-style REST server and a predict CLI (benchmarks/rest_load.py measures it)."""

from models import keras_env  # noqa: F401  (selects Keras 3 before anything imports TensorFlow)


class OptionError(ValueError):
    """A serving flag, version policy or batching parameter out of its range; the message names it."""


class InputError(ValueError):
    """A mistake in a client's request or instances file; the message says what was wrong."""
