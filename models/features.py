"""The one place that names the example features, their transformed keys and the model's outputs and metric.

Raw examples (the format ``data/`` writes, documented in README.md "Data format"):

* ``key``: bytes, a stable id per example; ImportExampleGen hashes it to pick the split.
* ``image``: bytes, ``height * width * channels`` uint8 pixels in row-major HWC order.
* ``height``, ``width``, ``channels``: int64, the image's shape; the schema pins them so
  images of another size are anomalies the validation gate stops.
* ``label``: int64 class index in ``[0, num_classes)``.
"""

KEY = "key"
IMAGE = "image"
HEIGHT = "height"
WIDTH = "width"
CHANNELS = "channels"
LABEL = "label"

SHAPE_KEYS = (HEIGHT, WIDTH, CHANNELS)
# One pixel's values: uint8, what every source is converted to and what the served model takes.
PIXEL_RANGE = (0, 255)

# Keys of the model's serving outputs.
PROBABILITIES = "probabilities"
CLASSES = "classes"

# The exported model's signatures: serialized tf.Examples (what TFMA and TF Serving's predict with
# `{"b64": ...}` examples send) and raw image bytes (what a client holding pixels sends).
EXAMPLES_SIGNATURE = "serving_default"
IMAGE_SIGNATURE = "serving_image"
# Next to the SavedModel, where TF Serving keeps files that are not the graph: the classes' names
# (index = label) when the data had them; the REST server and the predict CLI read it.
CLASS_NAMES_FILE = "assets.extra/class_names.json"


# The model's one metric, compiled into it and computed by the Evaluator (Keras' and TFMA's name).
ACCURACY = "sparse_categorical_accuracy"


def transformed_name(key: str) -> str:
    """Returns the name Transform gives the feature ``key``."""
    return key + "_xf"


IMAGE_XF = transformed_name(IMAGE)
LABEL_XF = transformed_name(LABEL)
