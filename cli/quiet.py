"""Quiets TensorFlow's and Google's start-up notices for a command-line tool's terminal.

For commands whose output a person reads (tables, one-line errors); called from their
``__main__`` before TensorFlow loads. A library import never changes logging. The pipeline run
itself keeps every such line, in its log file instead (local/console.py).
"""

import logging
import os
import warnings


def quiet_libraries() -> None:
    """TensorFlow's C++ logger to errors only, no FutureWarnings, and the ``tensorflow`` logger to errors."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.simplefilter("ignore", FutureWarning)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
