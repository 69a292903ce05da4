"""TFX Trainer's ``run_fn``: trains the convnet and exports a SavedModel that takes raw input."""

import hashlib
import json
import os

import keras
import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from models import callbacks as callbacks_lib
from models import devices, features, inputs, preprocessing, tuning
from models import model as model_lib
from models.hyperparameters import HyperparametersNotFoundError
from models.settings import TrainingSettings

# The values the model was built from, next to its TensorBoard logs in the model run folder.
HYPERPARAMETERS_FILE = "hyperparameters.json"


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


def backup_dir(settings: TrainingSettings, fn_args: FnArgs, hp: keras_tuner.HyperParameters) -> str | None:
    """Where an interrupted training of these inputs resumes from; None when not configured.

    Keyed on the training data and every setting, so a rerun of the same step resumes and a
    different step never picks up a foreign checkpoint.
    """
    if not settings.checkpoint_dir:
        return None
    identity = json.dumps([fn_args.train_files, hp.values, settings.to_custom_config()], sort_keys=True, default=str)
    return os.path.join(settings.checkpoint_dir, hashlib.sha256(identity.encode()).hexdigest()[:16])


def run_fn(fn_args: FnArgs) -> None:
    """Trains with early stopping on the eval split and exports to ``fn_args.serving_model_dir``."""
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(settings.seed)
    hp = hyperparameters(fn_args, settings)
    strategy = devices.strategy(devices.visible_gpus())
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    replicas = strategy.num_replicas_in_sync
    train_set, eval_set = inputs.datasets(fn_args, tf_transform_output, settings, replicas)
    examples = inputs.count_examples(fn_args.train_files)
    total_steps = inputs.steps_per_epoch(examples, settings, replicas) * settings.epochs
    logging.info(
        "Training on %d examples with hyperparameters %s on %d replica(s)", examples, json.dumps(hp.values), replicas
    )
    with strategy.scope():
        model = model_lib.build_model(hp, settings.image_shape, settings.num_classes, total_steps)
    monitor = "val_" + features.ACCURACY
    callbacks = [
        callbacks_lib.EpochLog(devices.global_batch_size(settings.batch_size, replicas), fn_args.model_run_dir),
        keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
        # Stops when eval accuracy has not improved for `patience` epochs, keeping the last weights:
        # on a one-cycle schedule the final, low-rate epochs are the converged model, and picking
        # the "best" epoch by a 1,000-example eval split chose a noisier, mid-schedule one
        # (0.9828 test accuracy where the last epoch's weights gave 0.99; BUILD_NOTES.md).
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=settings.early_stopping_patience),
    ]
    backup = backup_dir(settings, fn_args, hp)
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(backup))
    model.fit(train_set, validation_data=eval_set, epochs=settings.epochs, verbose=0, callbacks=callbacks)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HYPERPARAMETERS_FILE), "w") as f:
        f.write(json.dumps(hp.values, indent=2))
    export(model, tf_transform_output, settings.image_shape, fn_args.serving_model_dir)


def export(model: keras.Model, tf_transform_output: tft.TFTransformOutput, image_shape, export_dir: str) -> None:
    """Saves ``model`` with the transform graph and the image decoding inside, so serving takes raw input.

    The decoding is saved as its own function, ``decode_images``, whose output spec records the
    image shape: the REST server reads it from the SavedModel without loading it (serving/model.py).
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    image_spec = {features.IMAGE: tf_transform_output.raw_feature_spec()[features.IMAGE]}
    model.decode_images = tf.function(
        lambda images: {features.IMAGE_XF: preprocessing.decode_images(images, image_shape)},
        input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE_XF)],
        autograph=False,
    )

    def predict(raw_features):
        transformed = model.tft_layer(raw_features)
        probabilities = model(model.decode_images(transformed[features.IMAGE_XF])[features.IMAGE_XF], training=False)
        return {
            features.PROBABILITIES: probabilities,
            features.CLASSES: tf.argmax(probabilities, axis=-1),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, image_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE)], autograph=False)
    def serve_images(images):
        return predict({features.IMAGE: tf.reshape(images, [-1, 1])})

    signatures = {features.EXAMPLES_SIGNATURE: serve_examples, features.IMAGE_SIGNATURE: serve_images}
    tf.saved_model.save(model, export_dir, signatures=signatures)
    logging.info("Exported %s to %s", sorted(signatures), os.path.abspath(export_dir))
