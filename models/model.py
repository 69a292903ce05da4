"""The convnet (after keras-io's mnist_convnet): conv/pool blocks, dropout and a dense softmax head.

It trains on a one-cycle schedule: the learning rate climbs from a tenth of its peak to the peak
over the first WARMUP_FRACTION of the steps, then follows a cosine down to a hundredth of it.
With shifted copies of the images (models/inputs.py) six epochs reach about 99% on MNIST-10k's
test split, where a constant rate with ReduceLROnPlateau took fifteen to seventeen. Batch
normalisation, weight averaging (EMA), XLA and rotation/zoom augmentation were tried and left
out (BUILD_NOTES.md, "Training recipe").
"""

import keras
from keras import layers

from models import features

CONV_BLOCKS = 2  # each block doubles the filters and halves the resolution
POOL_SIZE = 2
WARMUP_FRACTION = 0.2
START_FRACTION = 0.1
FINAL_FRACTION = 0.01


def one_cycle(peak: float, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to ``peak`` over WARMUP_FRACTION of ``total_steps``, then cosine decay."""
    warmup = max(1, int(total_steps * WARMUP_FRACTION))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak * START_FRACTION,
        decay_steps=max(1, total_steps - warmup),
        alpha=FINAL_FRACTION,  # with a warm-up, a fraction of the peak
        warmup_target=peak,
        warmup_steps=warmup,
    )


def build_model(hp, image_shape, num_classes: int, total_steps: int) -> keras.Model:
    """Builds and compiles the convnet from KerasTuner hyperparameters ``hp`` for ``total_steps`` of training."""
    filters, kernel_size = hp.get("conv_filters"), hp.get("kernel_size")
    inputs = keras.Input(shape=tuple(image_shape), name=features.IMAGE_XF)
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
        optimizer=keras.optimizers.Adam(one_cycle(hp.get("learning_rate"), total_steps)),
        loss="sparse_categorical_crossentropy",
        metrics=[features.ACCURACY],
    )
    return model
