"""The served model: the trained weights in a float32 copy of the convnet, with the Transform graph inside.

Exported from a copy built under the float32 policy, whatever policy trained the weights: a
model trained with mixed_float16 on a GPU would otherwise carry float16 kernels into every CPU
consumer (the Evaluator, the REST server, a CPU Vertex serving container). The weights
themselves are float32 under mixed precision, so the copy computes what the model learned.
Only the chief of a multi-worker run exports; the copy needs no distribution strategy.
"""

import json
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from models import features, preprocessing
from models import model as model_lib

FLOAT32 = "float32"


def float32_copy(hp, image_shape, num_classes: int, weights: list) -> keras.Model:
    """The convnet of ``hp`` built under the float32 policy, holding ``weights``."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(FLOAT32)
    try:
        model = model_lib.build_model(hp, image_shape, num_classes, total_steps=1)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    model.set_weights(weights)
    return model


def write_class_names(export_dir: str, class_names) -> None:
    """Writes ``features.CLASS_NAMES_FILE`` into an exported model (nothing when there are no names)."""
    if not class_names:
        return
    path = os.path.join(export_dir, features.CLASS_NAMES_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(list(class_names)))


def export(model: keras.Model, tf_transform_output: tft.TFTransformOutput, image_shape, export_dir: str) -> None:
    """Saves ``model`` with the transform graph and the image decoding inside, so serving takes raw input.

    The decoding is saved as its own function, ``decode_images``, whose output spec records the
    image shape: the REST server reads it from the SavedModel without loading it (serving/loaded_model.py).
    """
    transform = tf_transform_output.transform_features_layer()
    # The SavedModel tracks the loaded transform graph, which the layer keeps in this dict for the
    # same purpose, and not TFT's tf_keras layer itself: saving that layer runs tf_keras' legacy
    # serialization, which traces it again with autograph (3.1 s of a 3.5 s export; BUILD_NOTES.md).
    model.transform_graph = transform._saved_model_loader_tracked_dict
    image_spec = {features.IMAGE: tf_transform_output.raw_feature_spec()[features.IMAGE]}
    model.decode_images = tf.function(
        lambda images: {features.IMAGE_XF: preprocessing.decode_images(images, image_shape)},
        input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE_XF)],
        autograph=False,
    )

    def predict(raw_features):
        transformed = transform(raw_features)
        probabilities = model(model.decode_images(transformed[features.IMAGE_XF])[features.IMAGE_XF], training=False)
        return {features.PROBABILITIES: probabilities, features.CLASSES: tf.argmax(probabilities, axis=-1)}

    # No Python control flow on tensors here: without autograph the first export is a second faster.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False)
    def serve_examples(serialized):
        return predict(tf.io.parse_example(serialized, image_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE)], autograph=False)
    def serve_images(images):
        return predict({features.IMAGE: tf.reshape(images, [-1, 1])})

    signatures = {features.EXAMPLES_SIGNATURE: serve_examples, features.IMAGE_SIGNATURE: serve_images}
    tf.saved_model.save(model, export_dir, signatures=signatures)
    logging.info("Exported %s to %s", sorted(signatures), os.path.abspath(export_dir))
