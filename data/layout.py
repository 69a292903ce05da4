"""What a prepared data folder holds, named without importing TensorFlow (the cloud CLIs read it).

``data.prepare`` writes uncompressed TFRecord files ``<name>-<i>-of-<n>.tfrecord`` into one
folder, the pipeline's ``--data-root``, and a MARKER file saying it wrote them. With a predefined
test set (``data.prepare ... --test-prefix``) the records go into one subfolder per split
instead, and the pipeline reads them with ``--predefined-splits true`` rather than hashing keys.
"""

import os

RECORD_SUFFIX = ".tfrecord"
# The largest image side anything converts or trains on: a 1024x1024 RGBA image is 4 MiB.
MAX_IMAGE_SIDE = 1024
RECORD_PATTERN = "*" + RECORD_SUFFIX
# What ImportExampleGen's splits are called: train feeds Tuner and Trainer, eval their model
# selection (objective, early stopping, schedules), test only the Evaluator's blessing.
TRAIN, EVAL, TEST = "train", "eval", "test"
SPLITS = (TRAIN, EVAL, TEST)
# data.prepare's own file in every folder it writes: it replaces only folders that hold one. It
# also records the example counts, the image shape and, for an image-folder source, the classes.
MARKER = "prepared.json"
# The class names, index = label, next to the records (image-folder sources): the pipeline
# carries them into the served model, whose metadata and predict CLI then name each class.
CLASSES_FILE = "classes.json"
# The runtime parameter that carries a fingerprint of a cloud run's data root into ImportExampleGen's
# cache key (pipeline/example_gen.py, cloud/data_version.py).
DATA_FINGERPRINT = "data_fingerprint"


def input_patterns(predefined_splits: bool) -> dict:
    """The file patterns ImportExampleGen reads, relative to the data root, by input split name.

    One input split ("all") is hashed into SPLITS by key; predefined splits are read from their folders.
    """
    if predefined_splits:
        return {split: os.path.join(split, RECORD_PATTERN) for split in SPLITS}
    return {"all": RECORD_PATTERN}
