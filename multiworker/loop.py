"""Training across processes: MultiWorkerMirroredStrategy with a synchronous loop of our own.

Keras 3's ``model.fit`` under MultiWorkerMirroredStrategy fails on TF 2.16 ("Attempt to convert a
value (PerReplica...)", keras-team/keras#20585), so every worker runs this loop instead:
``strategy.run`` of one step with ``tf.GradientTape`` (the loss averaged over the global batch,
the optimizer all-reducing the gradients), a fixed number of steps per epoch so every worker
takes part in every collective, and evaluation on each worker's shard of the eval split summed
across workers, so early stopping decides the same everywhere. Each worker keeps its own backup
(a tf.train.Checkpoint with the epoch) and resumes from it; the chief alone writes TensorBoard.
"""

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from models import callbacks, inputs
from models import model as model_lib
from models.settings import TrainingSettings
from multiworker.cluster import Cluster

# A worker waits this long for its peers in a collective before failing: a dead peer fails the
# step instead of hanging it (the local launcher stops the others at once anyway).
COLLECTIVE_TIMEOUT_S = 600


def weights_digest(model: keras.Model) -> str:
    """A digest of every weight's bytes: equal on workers that trained in step."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def _sharded(fn_args, tf_transform_output, settings: TrainingSettings, global_batch: int, cache: bool):
    """A ``distribute_datasets_from_function`` input function: this worker's shard of the train split, repeated."""

    def make(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return inputs.dataset(
            fn_args.train_files,
            tf_transform_output.transformed_feature_spec(),
            settings.image_shape,
            context.get_per_replica_batch_size(global_batch),
            train=True,
            seed=settings.seed + context.input_pipeline_id,
            shard=(context.num_input_pipelines, context.input_pipeline_id),
            repeat=True,
            cache=cache,
        )

    return make


def _step_fn(model, optimizer, global_batch: int):
    """One synchronous training step on every replica; returns the summed loss."""

    def step(images, labels):
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    return step


def _evaluate(strategy, model, eval_set: tf.data.Dataset) -> float:
    """Accuracy on the whole eval split: each worker counts its shard, one all-reduce sums the counts."""
    correct = total = 0
    for images, labels in eval_set:
        predicted = tf.argmax(model(images, training=False), axis=-1)
        correct += int(tf.reduce_sum(tf.cast(tf.equal(predicted, tf.cast(labels, predicted.dtype)), tf.int64)))
        total += int(tf.size(labels))
    local = tf.constant([correct, total], tf.int64)
    summed = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda counts: counts, args=(local,)), axis=None)
    correct, total = summed.numpy()
    return float(correct) / max(int(total), 1)


def backup_path(backup_dir: str, cluster: Cluster) -> str:
    """Each worker's own backup folder, side by side, so a worker that finishes first removes only its own."""
    return os.path.join(backup_dir, f"worker-{cluster.index}")


class SyncTraining:
    """One worker's part of a synchronous multi-worker training: the model, its input, its backup, its epochs.

    Every worker builds the same object from the Trainer's arguments; ``run`` trains the epochs in step
    with the other workers and returns the model (the same weights on every worker).
    """

    def __init__(self, fn_args, settings: TrainingSettings, hp, cluster: Cluster, tf_transform_output, backup: str):
        self.settings, self.cluster, self.log_dir, self.backup = settings, cluster, fn_args.model_run_dir, backup
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
        )
        self.global_batch = settings.batch_size * self.strategy.num_replicas_in_sync
        examples = inputs.count_examples(fn_args.train_files)
        self.steps = max(1, examples // self.global_batch)
        shard = examples // cluster.workers
        cache = inputs.fits_in_cache(shard, settings.image_shape, settings.input_cache_mb, "train shard")
        with self.strategy.scope():
            total_steps = self.steps * settings.train_epochs
            self.model = model_lib.build_model(hp, settings.image_shape, settings.num_classes, total_steps)
        sharded = _sharded(fn_args, tf_transform_output, settings, self.global_batch, cache)
        self.iterator = iter(self.strategy.distribute_datasets_from_function(sharded))
        self.eval_set = inputs.dataset(
            fn_args.eval_files,
            tf_transform_output.transformed_feature_spec(),
            settings.image_shape,
            settings.batch_size,
            train=False,
            seed=settings.seed,
            shard=(cluster.workers, cluster.index),
            cache=cache,
        )
        self.done = tf.Variable(0, dtype=tf.int64, trainable=False)  # epochs finished, kept in the backup
        self.manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer, epochs_done=self.done),
            backup_path(backup, cluster) if backup else tempfile.mkdtemp(prefix="trainer-backup-"),
            max_to_keep=1,
        )
        if self.manager.latest_checkpoint:
            self.manager.checkpoint.restore(self.manager.latest_checkpoint)
        step = _step_fn(self.model, self.model.optimizer, self.global_batch)

        @tf.function
        def train_step(iterator):
            per_replica = self.strategy.run(step, args=next(iterator))
            return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        self.train_step = train_step

    def epoch(self, epoch: int) -> dict:
        """Trains one epoch's steps and evaluates globally; returns the epoch's record."""
        started = time.perf_counter()
        loss = sum(float(self.train_step(self.iterator)) for _ in range(self.steps)) / self.steps
        seconds = time.perf_counter() - started
        return {
            "epoch": epoch + 1,
            "loss": loss,
            "eval_accuracy": _evaluate(self.strategy, self.model, self.eval_set),
            "examples_per_second": self.steps * self.global_batch / max(seconds, 1e-9),
            "learning_rate": callbacks.learning_rate(self.model.optimizer),
            "seconds": time.perf_counter() - started,
        }

    def run(self):
        """The epochs: train, evaluate globally, record (the chief), back up (every worker), stop early together."""
        writer = tf.summary.create_file_writer(self.log_dir) if self.cluster.is_chief else None
        best, waited = -1.0, 0
        chief = self.cluster.is_chief
        recorder = callbacks.EpochRecorder(
            self.settings.train_epochs,
            callbacks.epochs_path(self.log_dir) if chief else "",
            callbacks.PROGRESS if chief else logging.getLogger(__name__),
        )
        for epoch in range(int(self.done.numpy()), self.settings.train_epochs):
            record = self.epoch(epoch)
            recorder.record(record)
            if writer is not None:
                with writer.as_default(step=epoch):
                    for name in ("loss", "eval_accuracy", "examples_per_second", "learning_rate"):
                        tf.summary.scalar(name, record[name])
            self.done.assign(epoch + 1)
            self.manager.save()
            accuracy = record["eval_accuracy"]
            best, waited = (accuracy, 0) if accuracy > best else (best, waited + 1)
            if waited >= self.settings.early_stopping_patience:  # the same global accuracy on every worker
                break
        recorder.finish()
        if writer is not None:
            writer.close()  # its last events are on disk before the process ends without teardown
        shutil.rmtree(self.manager.directory, ignore_errors=True)  # finished: nothing to resume
        if self.backup:
            with contextlib.suppress(OSError):  # the last worker to finish removes the shared parent
                os.rmdir(self.backup)
        return self.model
