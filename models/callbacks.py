"""What a training run reports per epoch: loss, eval accuracy, examples/second, learning rate.

``EpochLog`` writes one JSON line per finished epoch to ``epochs.jsonl`` in the Trainer's model
run folder (next to its TensorBoard logs), adds ``examples_per_second`` to the logs TensorBoard
writes, and logs one readable line. Epochs are numbered from 1, as Keras prints them; a run
resumed from a backup starts after the last epoch it had finished.
"""

import json
import os
import time

import keras
import tensorflow as tf
from absl import logging

from models import features

EPOCHS_FILE = "epochs.jsonl"


def learning_rate(optimizer) -> float:
    """The optimizer's current learning rate (evaluated if it follows a schedule)."""
    rate = optimizer.learning_rate
    if callable(rate):
        rate = rate(optimizer.iterations)
    return float(keras.ops.convert_to_numpy(rate))


class EpochLog(keras.callbacks.Callback):
    """Times each epoch and records it; ``log_dir`` empty keeps the record in the logs only."""

    def __init__(self, global_batch: int, log_dir: str = ""):
        super().__init__()
        self.global_batch = global_batch
        self.path = os.path.join(log_dir, EPOCHS_FILE) if log_dir else ""
        self.start, self.steps = 0.0, 0

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
        record = {key: None if value is None else float(value) for key, value in record.items()}
        record["epoch"] = epoch + 1
        logging.info("epoch %s", json.dumps(record))
        if self.path:
            with tf.io.gfile.GFile(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


def read_epochs(log_dir: str) -> list:
    """The epoch records a Trainer wrote into ``log_dir`` (its model run folder), in order."""
    path = os.path.join(log_dir, EPOCHS_FILE)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [json.loads(line) for line in f if line.strip()]
