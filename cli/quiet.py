"""Quiets TensorFlow's and Google's start-up notices for a command-line tool's terminal.

For commands whose output a person reads (tables, one-line errors); called from their
``__main__`` before TensorFlow loads. A library import never changes logging. The pipeline run
itself keeps every such line, in its log file instead (local/console.py).
"""

import logging
import os
import warnings


def quiet_libraries() -> None:
    """TensorFlow's C++ logger to errors only, no FutureWarnings, and the ``tensorflow`` and ``absl`` loggers to errors.

    absl's is where TFT warns about Keras 2 and TFX about its runners (BUILD_NOTES.md, "Warnings you can ignore").
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.simplefilter("ignore", FutureWarning)
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
