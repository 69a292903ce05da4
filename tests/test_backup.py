"""The Trainer's backup (models/callbacks.py ``WholeBackupAndRestore``) survives a run stopped while it is written."""

import json
import os
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.callbacks import backup_and_restore

from models.callbacks import WholeBackupAndRestore


class StoppedWhileSaved(keras.layers.Layer):
    """A dense layer whose variables, from its ``stop_at``-th save on, are not written: the run is stopped
    (KeyboardInterrupt, as SIGTERM and Ctrl-C end a local run) after the layers before it were written."""

    def __init__(self, stop_at: int, **kwargs):
        super().__init__(**kwargs)
        self.stop_at, self.saves = stop_at, 0

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 2), initializer="glorot_uniform")

    def call(self, x):
        return keras.ops.softmax(x @ self.kernel)

    def save_own_variables(self, store):
        self.saves += 1
        if self.saves >= self.stop_at:
            raise KeyboardInterrupt
        super().save_own_variables(store)


class WeightsAtStart(keras.callbacks.Callback):
    """Keeps the model's weights as training starts (after the backup, listed before it, was restored)."""

    def on_train_begin(self, logs=None):
        self.weights = self.model.get_weights()


class WeightsEachEpoch(keras.callbacks.Callback):
    """Keeps the model's weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def model(stop_at: int) -> keras.Model:
    """A Dense layer and a ``StoppedWhileSaved`` one, compiled, with the same starting weights every time."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = StoppedWhileSaved(stop_at)(keras.layers.Dense(3)(inputs))  # the Dense layer is written first
    built = keras.Model(inputs, outputs)
    built.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return built


# A local folder, and TensorFlow's in-memory file system standing in for gs:// (the backup lives under
# the pipeline root, which is a bucket on Vertex AI): every file operation goes through tf.io.gfile.
@pytest.mark.parametrize("where", ["local", "ram"])
def test_a_backup_stopped_while_written_leaves_the_last_whole_one_which_a_rerun_restores(tmp_path, where):
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4), dtype=np.float32), rng.integers(0, 2, 32)
    backup = str(tmp_path / "backup") if where == "local" else f"ram://backup-{uuid.uuid4().hex}"
    epochs = WeightsEachEpoch()
    with pytest.raises(KeyboardInterrupt):  # stopped while the second epoch's backup is written
        model(stop_at=2).fit(x, y, epochs=3, verbose=0, callbacks=[epochs, WholeBackupAndRestore(backup)])
    assert len(epochs.weights) == 2
    with tf.io.gfile.GFile(os.path.join(backup, "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 1

    start = WeightsAtStart()
    rerun = model(stop_at=1_000).fit(x, y, epochs=3, verbose=0, callbacks=[WholeBackupAndRestore(backup), start])
    assert rerun.epoch == [1, 2]  # resumed after the first epoch, the last one backed up whole
    for restored, first_epoch in zip(start.weights, epochs.weights[0], strict=True):
        np.testing.assert_array_equal(restored, first_epoch)
    assert not tf.io.gfile.exists(backup)  # removed once training finished


def test_a_run_stopped_while_the_finished_backup_is_deleted_trains_every_epoch_again(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4), dtype=np.float32), rng.integers(0, 2, 32)
    backup = str(tmp_path / "backup")

    def stopped(path):  # SIGTERM while Keras deletes the finished run's folder, before any file went
        raise KeyboardInterrupt

    monkeypatch.setattr(backup_and_restore.file_utils, "rmtree", stopped)
    with pytest.raises(KeyboardInterrupt):
        model(stop_at=1_000).fit(x, y, epochs=2, verbose=0, callbacks=[WholeBackupAndRestore(backup)])
    monkeypatch.undo()
    rerun = model(stop_at=1_000).fit(x, y, epochs=2, verbose=0, callbacks=[WholeBackupAndRestore(backup)])
    assert rerun.epoch == [0, 1]  # with Keras' own order the count survives and the rerun trains no epoch


def test_keras_double_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"no \.bkp copies"):
        WholeBackupAndRestore(str(tmp_path / "backup"), double_checkpoint=True)
