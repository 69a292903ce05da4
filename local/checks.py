"""Checks a local run's inputs up front and names the cause when a component fails (imports no TensorFlow)."""

import glob
import json
import os

from data import DataError, tfrecord
from data.layout import input_patterns
from models.hyperparameters import HyperparametersNotFoundError
from pipeline.config import ConfigError, PipelineConfig

# Next to the metadata store: the input files already verified, and their size and modification time.
VERIFIED_FILE = "verified-inputs.json"


class PipelineError(RuntimeError):
    """A run cannot start or did not finish; the message names the file or feature."""


def check_resources(config: PipelineConfig) -> None:
    """Refuses more training processes than this machine has cores: each is a whole TensorFlow."""
    cores = os.cpu_count() or 1
    if config.trainer_workers > cores:
        raise ConfigError(
            f"trainer_workers {config.trainer_workers} is more than this machine's {cores} cores; "
            "a cloud run asks for replicas in the cloud config instead"
        )


def check_inputs(config: PipelineConfig) -> dict:
    """Fails before any component runs when the data folder is missing, empty or corrupted.

    Every record's checksum is verified because Beam's reader, inside ImportExampleGen, reports a
    damaged record without naming its file. A file verified before, unchanged since (same size
    and modification time, ``remember_verified``), is not read again, so a cached re-run costs
    the same whatever the data's size. Returns the stamps to remember once the run may write.
    """
    if not os.path.isdir(config.data_root):
        raise ConfigError(f"data root {config.data_root} does not exist; prepare it with `python -m data.prepare`")
    verified = _verified(config)
    for pattern in input_patterns(config.predefined_splits).values():
        paths = sorted(glob.glob(os.path.join(config.data_root, pattern)))
        if not paths:
            raise ConfigError(f"data root {config.data_root} holds no {pattern} files")
        for path in paths:
            stat = os.stat(path)
            stamp = [stat.st_size, stat.st_mtime_ns]
            if verified.get(path) != stamp:
                _verify_records(path)
                verified[path] = stamp
    return verified


def _verify_records(path: str) -> None:
    """Reads every record of a TFRecord file, checking its checksums; PipelineError names a damaged file."""
    try:
        tfrecord.count_verified(path)
    except tfrecord.CorruptRecordError as err:
        raise PipelineError(f"{path}: corrupted or truncated TFRecord file ({err})") from err


def _verified_path(config: PipelineConfig) -> str:
    return os.path.join(os.path.dirname(config.metadata_path), VERIFIED_FILE)


def _verified(config: PipelineConfig) -> dict:
    """The input files verified by earlier runs of this pipeline: {path: [size, mtime_ns]}."""
    try:
        with open(_verified_path(config)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: verify everything again


def remember_verified(config: PipelineConfig, verified: dict) -> None:
    """Records what ``check_inputs`` verified, next to the metadata store (after the folders are checked)."""
    path = _verified_path(config)
    with open(path + ".tmp", "w") as f:
        json.dump(verified, f)
    os.replace(path + ".tmp", path)


def known_cause(err: BaseException) -> Exception | None:
    """The input problem behind a component's failure, or None.

    Data no model can learn from is a ``DataError`` (a bad input: exit status 2); anomalies and
    missing stored hyperparameters are a ``PipelineError`` (the run did not finish: 1).
    """
    from models.callbacks import TrialsFailed  # TensorFlow and TFX: loaded by the run that failed
    from pipeline.gate import DataAnomaliesError, DegenerateDataError

    for cause in _chain(err):
        if isinstance(cause, (PipelineError, DataError)):
            return cause
        if isinstance(cause, DegenerateDataError):
            return DataError(str(cause))
        if isinstance(cause, (DataAnomaliesError, HyperparametersNotFoundError, TrialsFailed)):
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
    for folder in (config.pipeline_root, os.path.dirname(config.metadata_path), config.serving_dir, config.log_dir):
        try:
            os.makedirs(folder, exist_ok=True)
            probe = os.path.join(folder, f".write-test-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as err:
            raise PipelineError(f"{folder}: output folder not writable ({err.strerror or err})") from err
