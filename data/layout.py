"""What a prepared data folder holds, named without importing TensorFlow (the cloud CLIs read it).

``data.prepare`` writes uncompressed TFRecord files ``<name>-<i>-of-<n>.tfrecord`` into one
folder, the pipeline's ``--data-root``; ImportExampleGen reads every file matching RECORD_PATTERN.
"""

RECORD_SUFFIX = ".tfrecord"
RECORD_PATTERN = "*" + RECORD_SUFFIX
