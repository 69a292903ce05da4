"""The convnet: conv/pool blocks, dropout and a dense softmax head (after keras-io's mnist_convnet)."""

import keras
from keras import layers

from models import features

CONV_BLOCKS = 2  # each block doubles the filters and halves the resolution
POOL_SIZE = 2


def build_model(hp, image_shape, num_classes: int) -> keras.Model:
    """Builds and compiles the convnet from KerasTuner hyperparameters ``hp``."""
    filters, kernel_size = hp.get("conv_filters"), hp.get("kernel_size")
    inputs = keras.Input(shape=tuple(image_shape), name=features.transformed_name(features.IMAGE))
    x = inputs
    for block in range(CONV_BLOCKS):
        x = layers.Conv2D(filters * 2**block, kernel_size, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(POOL_SIZE, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(hp.get("dropout"))(x)
    x = layers.Dense(hp.get("dense_units"), activation="relu")(x)
    x = layers.Dropout(hp.get("dropout"))(x)
    # float32 probabilities even when a mixed-precision policy computes the rest in float16.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name=features.PROBABILITIES)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(hp.get("learning_rate")),
        loss="sparse_categorical_crossentropy",
        metrics=[features.ACCURACY],
    )
    return model
