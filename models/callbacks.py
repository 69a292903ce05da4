"""What training and tuning report: per epoch loss, accuracy, examples/second, learning rate; per trial its score.

``EpochLog`` writes one JSON line per finished epoch to ``epochs.jsonl`` in the Trainer's model
run folder (next to its TensorBoard logs), adds ``examples_per_second`` to the logs TensorBoard
writes, and logs one line. Epochs are numbered from 1, as Keras prints them; a run resumed from a
backup starts after the last epoch it had finished. ``TrialLog``, mixed into a KerasTuner tuner,
does the same per trial in ``trials.jsonl`` next to the Tuner's TensorBoard logs.
``WholeBackupAndRestore`` is Keras' ``BackupAndRestore`` whose backup is never left half written.
"""

import gc
import json
import logging
import os
import time

import keras
import keras_tuner
import tensorflow as tf

from models import features

# Trials and epochs, one line each: a local run shows this logger's records on the terminal (local/console.py).
PROGRESS = logging.getLogger("models.progress")

# At most this many epoch lines on a local run's terminal; the log and epochs.jsonl keep every epoch.
CONSOLE_EPOCHS = 15
EPOCHS_FILE = "epochs.jsonl"
TRIALS_FILE = "trials.jsonl"


def describe_epoch(record: dict) -> str:
    """One epoch record as a line: ``epoch 3: loss 0.1315, eval accuracy 0.9800, 3227 examples/s, lr 0.0027, 2.5 s``."""
    accuracy = record.get("eval_accuracy")
    return (
        f"epoch {record['epoch']}: loss {record['loss']:.4f}, eval accuracy "
        f"{'n/a' if accuracy is None else f'{accuracy:.4f}'}, {record['examples_per_second']:.0f} examples/s, "
        f"lr {record['learning_rate']:.2g}, {record['seconds']:.1f} s"
    )


def describe_trial(record: dict) -> str:
    """One trial record as a line: ``trial 2/3: score 0.9710 (best 0.9800), 2.1 s, {values}``, or why it failed."""
    values = ", ".join(f"{name}={value:.3g}" for name, value in record["values"].items())
    trial = f"trial {record['trial']}/{record['of']}"
    if record.get("failed"):
        return f"{trial}: FAILED after {record['seconds']:.1f} s: {record['failed']}, {values}"
    best = "none yet" if record["best_score"] is None else f"{record['best_score']:.4f}"
    return f"{trial}: score {record['score']:.4f} (best {best}), {record['seconds']:.1f} s, {values}"


def failure_cause(message: str) -> str:
    """The last line of a failed trial's traceback (KerasTuner keeps it in ``trial.message``): what raised."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no cause recorded"


class TrialsFailed(RuntimeError):
    """Every trial of a search failed; the message is the first one's cause."""


def epochs_path(log_dir: str) -> str:
    """Where epoch records go in a model run (or search) folder; empty when there is none."""
    return os.path.join(log_dir, EPOCHS_FILE) if log_dir else ""


def learning_rate(optimizer) -> float:
    """The optimizer's current learning rate (evaluated if it follows a schedule)."""
    rate = optimizer.learning_rate
    if callable(rate):
        rate = rate(optimizer.iterations)
    return float(keras.ops.convert_to_numpy(rate))


class EpochLog(keras.callbacks.Callback):
    """Times each epoch and records it (``EpochRecorder``); ``log_dir`` empty keeps the record in the logs only.

    ``progress`` shows the line on a local run's terminal (the Trainer's epochs); the Tuner's trial
    epochs go to the log only, the terminal having one line per trial.
    """

    def __init__(self, global_batch: int, log_dir: str = "", progress: bool = True):
        super().__init__()
        self.global_batch = global_batch
        self.path = epochs_path(log_dir)
        self.logger = PROGRESS if progress else logging.getLogger(__name__)
        self.start, self.steps = 0.0, 0

    def on_train_begin(self, logs=None):
        self.recorder = EpochRecorder(self.params["epochs"], self.path, self.logger)

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        # The last batch of an epoch may be short, so this slightly overstates; fine for a trend.
        seconds = max(time.perf_counter() - self.start, 1e-9)
        logs["examples_per_second"] = self.steps * self.global_batch / seconds
        record = {
            "epoch": epoch + 1,
            "loss": logs.get("loss"),
            "eval_accuracy": logs.get("val_" + features.ACCURACY),
            "examples_per_second": logs["examples_per_second"],
            "learning_rate": learning_rate(self.model.optimizer),
            "seconds": seconds,
        }
        self.recorder.record(record)

    def on_train_end(self, logs=None):
        self.recorder.finish()


class EpochRecorder:
    """Records each finished epoch of ``total``: a line in the log and its record in ``path`` (epochs.jsonl; empty:
    the log only).

    On ``PROGRESS`` (a local run's terminal) it shows at most about CONSOLE_EPOCHS of them, every
    k-th and the last, so a long schedule still fits one screen; the log has every line. ``finish``
    shows the last epoch when training stopped early on one that was not shown.
    """

    def __init__(self, total: int, path: str = "", logger: logging.Logger = PROGRESS):
        self.total, self.path, self.logger = total, path, logger
        self.unshown = ""

    def record(self, record: dict) -> None:
        """Logs one epoch's line (on the terminal or in the log only) and appends its record to ``path``."""
        record = {key: None if value is None else float(value) for key, value in record.items()}
        record["epoch"] = int(record["epoch"])
        line = describe_epoch(record)
        shown = self.logger is not PROGRESS or shown_epoch(record["epoch"], self.total)
        (self.logger if shown else logging.getLogger(__name__)).info("%s", line)
        self.unshown = "" if shown else line
        if self.path:
            _append(self.path, record)

    def finish(self) -> None:
        """Shows the last epoch's line if it was not shown."""
        if self.unshown:
            self.logger.info("%s", self.unshown)
            self.unshown = ""


def shown_epoch(epoch: int, total: int) -> bool:
    """Whether the terminal shows epoch ``epoch`` (from 1) of ``total``: each k-th (k fits CONSOLE_EPOCHS), the last."""
    return epoch % max(1, -(-total // CONSOLE_EPOCHS)) == 0 or epoch == total


def _append(path: str, record: dict) -> None:
    with tf.io.gfile.GFile(path, "a") as f:
        f.write(json.dumps(record) + "\n")


class TrialLog:
    """Mixed into a KerasTuner tuner: a record and a log line per finished trial (values, score, best so far)."""

    log_dir = ""  # where trials.jsonl goes; empty: the log line only

    def on_trial_begin(self, trial):
        """Starts the trial's clock."""
        self._trial_started = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        """Records the trial once the oracle has scored it; a failed trial is recorded with its cause."""
        try:
            super().on_trial_end(trial)  # the oracle ends the search after too many consecutive failures
        finally:
            self._record(trial)

    def _record(self, trial) -> None:
        (best,) = self.oracle.get_best_trials(1) or [None]
        failed = trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED
        record = {
            "trial": int(trial.trial_id) + 1,
            "of": self.oracle.max_trials,
            "values": trial.hyperparameters.values,
            "score": trial.score,
            "best_score": best.score if best else None,
            "seconds": time.perf_counter() - self._trial_started,
            "failed": failure_cause(trial.message) if failed else "",
        }
        PROGRESS.info("%s", describe_trial(record))
        if self.log_dir:
            _append(os.path.join(self.log_dir, TRIALS_FILE), record)

    def search(self, *fit_args, **fit_kwargs):
        """KerasTuner's search, ending with ``TrialsFailed`` (the first trial's cause) when no trial completed."""
        # KerasTuner collects garbage twice before every trial; frozen, the objects alive now (in a
        # local run, every earlier component's) are not scanned each time (BUILD_NOTES.md, "Training recipe and speed").
        gc.freeze()
        try:
            super().search(*fit_args, **fit_kwargs)
        except RuntimeError as err:
            if "consecutive failures" not in str(err):
                raise
        finally:
            gc.unfreeze()
        trials = [self.oracle.trials[trial_id] for trial_id in self.oracle.end_order]
        if not any(t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED for t in trials):
            first = failure_cause(trials[0].message) if trials else "no trial ran"
            raise TrialsFailed(f"every Tuner trial failed; the first: {first}")


class WholeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore``, each backup file written beside the last one and renamed over it.

    Keras writes ``latest.weights.h5`` in place, layer by layer. A run stopped while it writes (SIGTERM
    and Ctrl-C raise KeyboardInterrupt between two layers; SIGKILL stops it anywhere) left a file
    holding the first layers only, and every rerun then failed to restore it ("expected 2 variables,
    but received 0"). The weights go first, then the epoch count: stopped between the two, a rerun
    repeats one epoch from the newer weights instead of skipping one. When training ends the epoch
    count is removed first, so a stop while the folder is deleted never leaves a count without its
    weights. ``double_checkpoint`` (Keras' ``.bkp`` copies) is refused: this writer makes none.
    """

    def __init__(self, backup_dir: str, **kwargs):
        if kwargs.get("double_checkpoint"):
            raise ValueError("WholeBackupAndRestore keeps no .bkp copies: its backup is never half written")
        super().__init__(backup_dir, **kwargs)

    def on_train_end(self, logs=None):
        # Keras removes the folder in one rmtree, its files in no set order (on gs:// one request
        # each): stopped after the weights went, the count left behind would make a rerun skip its
        # epochs on fresh weights. Without the count a rerun trains every epoch again.
        if self.delete_checkpoint and tf.io.gfile.exists(self._training_metadata_path):
            tf.io.gfile.remove(self._training_metadata_path)
        super().on_train_end(logs)

    def _save_model(self):  # Keras' one writer of the backup (keras/src/callbacks/backup_and_restore.py)
        # tf.io.gfile, as Keras' own: on Vertex AI the backup is under a gs:// pipeline root, where a
        # rename is a copy of a whole object, never a half-written one.
        tf.io.gfile.makedirs(self.backup_dir)
        partial = os.path.join(self.backup_dir, "partial.weights.h5")  # save_weights wants *.weights.h5
        self.model.save_weights(partial, overwrite=True)
        tf.io.gfile.rename(partial, self._weights_path, overwrite=True)
        with tf.io.gfile.GFile(self._training_metadata_path + ".partial", "w") as f:
            f.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        tf.io.gfile.rename(self._training_metadata_path + ".partial", self._training_metadata_path, overwrite=True)


def read_records(log_dir: str, name: str = EPOCHS_FILE) -> list:
    """The records a Trainer (``epochs.jsonl``, in its model run folder) or Tuner (``trials.jsonl``) wrote, in order."""
    path = os.path.join(log_dir, name)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [json.loads(line) for line in f if line.strip()]
