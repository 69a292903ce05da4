"""Checks a local run's inputs up front and names the cause when a component fails."""

import glob
import os

from console.errors import CommandFailed
from data.layout import RECORD_PATTERN
from models.hyperparameters import HyperparametersNotFoundError
from pipeline.config import ConfigError, PipelineConfig
from pipeline.gate import DataAnomaliesError


class PipelineError(CommandFailed):
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


def known_cause(err: BaseException) -> PipelineError | None:
    """The input problem behind a component's failure (anomalies, no stored hyperparameters), or None."""
    for cause in _chain(err):
        if isinstance(cause, PipelineError):
            return cause
        if isinstance(cause, (DataAnomaliesError, HyperparametersNotFoundError)):
            return PipelineError(str(cause))
    return None


def _chain(err: BaseException):
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__


def check_metadata_store(config: PipelineConfig) -> None:
    """Fails when the metadata path exists but is not an SQLite database (MLMD would fail obscurely)."""
    import sqlite3

    if not os.path.exists(config.metadata_path):
        return
    try:
        with sqlite3.connect(f"file:{config.metadata_path}?mode=ro", uri=True) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as err:
        raise PipelineError(f"{config.metadata_path}: not an ML Metadata SQLite database ({err})") from err


def check_writable(config: PipelineConfig) -> None:
    """Creates the run's output folders, or fails naming the one that cannot be written."""
    for folder in (config.pipeline_root, os.path.dirname(config.metadata_path), config.serving_dir):
        try:
            os.makedirs(folder, exist_ok=True)
            probe = os.path.join(folder, f".write-test-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as err:
            raise PipelineError(f"{folder}: output folder not writable ({err.strerror or err})") from err
