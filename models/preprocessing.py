"""Transform's ``preprocessing_fn``, and ``decode_images``, which training and serving apply after it.

Transform keeps each image as its raw uint8 bytes, checked to hold exactly height*width*channels
of them: stored as float32 the transformed examples would take four times the space on disk and
in the Trainer's cache. ``decode_images`` turns them into the model's float inputs in [0, 1];
the Trainer's input pipeline and the exported model's signatures both call it right after the
Transform graph, so clients still send raw images.
"""

import tensorflow as tf

from models import features


def preprocessing_fn(inputs, custom_config):
    """Maps raw features to the model's inputs; runs in Transform and inside the served model.

    ``custom_config["image_shape"]`` is the (height, width, channels) of every image; the schema
    gate has already stopped data whose shape features say otherwise, and the byte count is
    checked here.
    """
    height, width, channels = custom_config["image_shape"]
    images = tf.reshape(inputs[features.IMAGE], [-1])
    check = tf.debugging.assert_equal(
        tf.strings.length(images), height * width * channels, message="image bytes do not match image_shape"
    )
    with tf.control_dependencies([check]):
        outputs = {features.IMAGE_XF: tf.identity(images)}
    if features.LABEL in inputs:  # absent at serving time
        outputs[features.LABEL_XF] = tf.reshape(inputs[features.LABEL], [-1])
    return outputs


def decode_images(images: tf.Tensor, image_shape) -> tf.Tensor:
    """Raw uint8 HWC bytes (any batch shape, or one scalar) as float32 images in [0, 1] of ``image_shape``."""
    pixels = tf.io.decode_raw(images, tf.uint8)
    shape = tf.concat([tf.shape(images), tf.constant(list(image_shape), tf.int32)], axis=0)
    return tf.cast(tf.reshape(pixels, shape), tf.float32) / float(features.PIXEL_RANGE[1])
