"""Checks a local run's inputs up front and names the cause when a component fails."""

import glob
import os

from pipeline.config import RECORD_PATTERN, ConfigError, PipelineConfig
from pipeline.gate import DataAnomaliesError


class PipelineError(RuntimeError):
    """A run cannot start or did not finish; the message names the file or feature."""


def check_inputs(config: PipelineConfig) -> None:
    """Fails before any component runs when the data folder is missing, empty or corrupted.

    Every record's checksum is verified here because Beam's reader, inside ImportExampleGen,
    reports a damaged record without naming its file.
    """
    import tensorflow as tf

    if not os.path.isdir(config.data_root):
        raise ConfigError(f"data root {config.data_root} does not exist; prepare it with `python -m data.prepare`")
    paths = sorted(glob.glob(os.path.join(config.data_root, RECORD_PATTERN)))
    if not paths:
        raise ConfigError(f"data root {config.data_root} holds no {RECORD_PATTERN} files")
    for path in paths:
        try:
            for _ in tf.data.TFRecordDataset(path, buffer_size=1 << 20).batch(4096):
                pass
        except tf.errors.DataLossError as err:
            raise PipelineError(f"{path}: corrupted or truncated TFRecord file ({err.message})") from err


def describe_failure(err: BaseException) -> str | None:
    """One line naming what went wrong, for failures caused by the input; None otherwise."""
    for cause in _chain(err):
        if isinstance(cause, (DataAnomaliesError, PipelineError)):
            return str(cause)
    return None


def _chain(err: BaseException):
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__
