"""TFX Trainer's ``run_fn``: trains the convnet on one process or several and exports a model taking raw input.

Which path runs depends on ``TF_CONFIG`` (multiworker/cluster.py): unset, the Trainer trains here with
``model.fit`` (MirroredStrategy over local GPUs, or the default strategy); with several workers,
as Vertex AI runs replicas, every worker trains in step (multiworker/loop.py) and only the chief
writes the model, TensorBoard and ``hyperparameters.json``. ``--trainer-workers N`` runs the
several-worker path on this machine (multiworker/launcher.py).
"""

import hashlib
import json
import os

import keras
import keras_tuner
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from models import callbacks as callbacks_lib
from models import devices, export, features, inputs, tuning
from models import model as model_lib
from models.hyperparameters import HyperparametersNotFoundError
from models.settings import TrainingSettings
from multiworker import cluster as cluster_lib
from multiworker import launcher, loop

# The values the model was built from, next to its TensorBoard logs in the model run folder.
HYPERPARAMETERS_FILE = "hyperparameters.json"
# Each worker's final weights (a digest) and epochs, in the model run folder: equal digests show
# the workers trained in step.
WORKER_FILE = "worker-{index}.json"


def hyperparameters(fn_args: FnArgs, settings: TrainingSettings) -> keras_tuner.HyperParameters:
    """The Tuner's (or resolved) best hyperparameters, else fixed values, else the space's defaults."""
    if fn_args.hyperparameters:
        return keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
    if settings.require_hyperparameters:
        raise HyperparametersNotFoundError(
            "tuning_mode reuse: the metadata store holds no best hyperparameters yet; "
            "run once with --tuning-mode tune first"
        )
    return tuning.with_values(settings.fixed_hyperparameters)


def backup_dir(settings: TrainingSettings, fn_args: FnArgs, hp: keras_tuner.HyperParameters) -> str:
    """Where an interrupted training of these inputs resumes from; empty when not configured.

    Keyed on the training data and every setting, so a rerun of the same step resumes and a
    different step never picks up a foreign checkpoint.
    """
    if not settings.checkpoint_dir:
        return ""
    identity = json.dumps([fn_args.train_files, hp.values, settings.to_custom_config()], sort_keys=True, default=str)
    return os.path.join(settings.checkpoint_dir, hashlib.sha256(identity.encode()).hexdigest()[:16])


def run_fn(fn_args: FnArgs) -> None:
    """Trains with early stopping on the eval split and exports to ``fn_args.serving_model_dir`` (the chief only)."""
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    cluster = cluster_lib.from_environment()
    if settings.trainer_workers > 1 and not cluster.distributed:
        launcher.run_workers(fn_args, settings.trainer_workers)
        return
    keras.utils.set_random_seed(settings.seed)
    hp = hyperparameters(fn_args, settings)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    backup = backup_dir(settings, fn_args, hp)
    if cluster.distributed:
        model = loop.SyncTraining(fn_args, settings, hp, cluster, tf_transform_output, backup).run()
    else:
        model = fit(fn_args, settings, hp, tf_transform_output, backup)
    _record_worker(fn_args.model_run_dir, cluster, model)
    if cluster.is_chief:
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HYPERPARAMETERS_FILE), "w") as f:
            f.write(json.dumps(hp.values, indent=2))
        weights = model.get_weights()
        served = export.float32_copy(hp, settings.image_shape, settings.num_classes, weights)
        export.export(served, tf_transform_output, settings.image_shape, fn_args.serving_model_dir)
        export.write_class_names(fn_args.serving_model_dir, settings.class_names)


def fit(fn_args: FnArgs, settings: TrainingSettings, hp, tf_transform_output, backup: str) -> keras.Model:
    """Trains in this process with ``model.fit`` (MirroredStrategy over local GPUs when there are several)."""
    strategy = devices.strategy(devices.visible_gpus())
    replicas = strategy.num_replicas_in_sync
    examples = inputs.count_examples(fn_args.train_files)
    fit_inputs = inputs.fit_inputs(fn_args, tf_transform_output, settings, examples, replicas)
    total_steps = fit_inputs["steps_per_epoch"] * settings.train_epochs
    logging.info("Training on %d examples with %s on %d replica(s)", examples, json.dumps(hp.values), replicas)
    with strategy.scope():
        model = model_lib.build_model(hp, settings.image_shape, settings.num_classes, total_steps)
    callbacks = [
        callbacks_lib.EpochLog(devices.global_batch_size(settings.batch_size, replicas), fn_args.model_run_dir),
        keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
        # Stops when eval accuracy has not improved for `patience` epochs, keeping the last weights:
        # on a one-cycle schedule the final, low-rate epochs are the converged model, and picking
        # the "best" epoch by a 1,000-example eval split chose a noisier, mid-schedule one
        # (0.9828 test accuracy where the last epoch's weights gave 0.99; BUILD_NOTES.md).
        keras.callbacks.EarlyStopping(
            monitor="val_" + features.ACCURACY, mode="max", patience=settings.early_stopping_patience
        ),
    ]
    if backup:
        callbacks.append(callbacks_lib.WholeBackupAndRestore(backup))
    model.fit(**fit_inputs, epochs=settings.train_epochs, verbose=0, callbacks=callbacks)
    return model


def _record_worker(model_run_dir: str, cluster: cluster_lib.Cluster, model: keras.Model) -> None:
    """Writes this worker's weights digest next to the run's logs."""
    digest = loop.weights_digest(model)
    record = {
        "index": cluster.index,
        "workers": cluster.workers,
        "weights_sha256": digest,
        "parameters": int(sum(np.size(w) for w in model.get_weights())),
    }
    with tf.io.gfile.GFile(os.path.join(model_run_dir, WORKER_FILE.format(index=cluster.index)), "w") as f:
        f.write(json.dumps(record))
