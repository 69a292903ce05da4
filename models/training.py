"""TFX Trainer's ``run_fn``: trains the convnet and exports a SavedModel that takes raw input."""

import json
import os

import keras
import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from models import features, inputs, tuning
from models import model as model_lib
from models.settings import TrainingSettings

# The exported signatures: serialized tf.Examples (what TFMA and TF Serving's predict with
# `{"b64": ...}` examples send) and raw image bytes (what a client holding pixels sends).
EXAMPLES_SIGNATURE = "serving_default"
IMAGE_SIGNATURE = "serving_image"


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over every visible GPU; the default (CPU) strategy when there is none."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def hyperparameters(fn_args: FnArgs) -> keras_tuner.HyperParameters:
    """The Tuner's best hyperparameters when wired in, else the search space's defaults."""
    if fn_args.hyperparameters:
        return keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
    return tuning.search_space()


def run_fn(fn_args: FnArgs) -> None:
    """Trains with early stopping on the eval split and exports to ``fn_args.serving_model_dir``."""
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(settings.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_set, eval_set = inputs.datasets(fn_args, tf_transform_output, settings)
    hp = hyperparameters(fn_args)
    logging.info("Training with hyperparameters %s", json.dumps(hp.values))
    with distribution_strategy().scope():
        model = model_lib.build_model(hp, settings.image_shape, settings.num_classes)
    monitor = "val_" + model_lib.ACCURACY
    model.fit(
        train_set,
        validation_data=eval_set,
        epochs=settings.epochs,
        verbose=2,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=settings.early_stopping_patience, restore_best_weights=True
            ),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="max", factor=0.5, patience=2),
        ],
    )
    export(model, tf_transform_output, fn_args.serving_model_dir)


def export(model: keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Saves ``model`` with the transform graph inside, so serving takes raw input."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    image_spec = {features.IMAGE: tf_transform_output.raw_feature_spec()[features.IMAGE]}

    def predict(raw_features):
        transformed = model.tft_layer(raw_features)
        probabilities = model(transformed[inputs.IMAGE_XF], training=False)
        return {
            features.PROBABILITIES: probabilities,
            features.CLASSES: tf.argmax(probabilities, axis=-1),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, image_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE)])
    def serve_images(images):
        return predict({features.IMAGE: tf.reshape(images, [-1, 1])})

    signatures = {EXAMPLES_SIGNATURE: serve_examples, IMAGE_SIGNATURE: serve_images}
    tf.saved_model.save(model, export_dir, signatures=signatures)
    logging.info("Exported %s to %s", sorted(signatures), os.path.abspath(export_dir))
