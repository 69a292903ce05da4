"""Transform's ``preprocessing_fn``: decodes raw pixel bytes and scales them to [0, 1]."""

import tensorflow as tf

from models import features


def preprocessing_fn(inputs, custom_config):
    """Maps raw features to the model's inputs; runs in Transform and inside the served model.

    ``custom_config["image_shape"]`` is the (height, width, channels) of every image; the
    schema gate has already stopped data whose images have another shape.
    """
    height, width, channels = custom_config["image_shape"]
    pixels = tf.io.decode_raw(inputs[features.IMAGE], tf.uint8)
    images = tf.reshape(pixels, [-1, height, width, channels])
    outputs = {features.transformed_name(features.IMAGE): tf.cast(images, tf.float32) / 255.0}
    if features.LABEL in inputs:  # absent at serving time
        outputs[features.transformed_name(features.LABEL)] = inputs[features.LABEL]
    return outputs
