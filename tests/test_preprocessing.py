"""``preprocessing_fn`` run for real through tf.Transform's AnalyzeAndTransformDataset."""

import numpy as np
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tfx.utils import io_utils

from models import features
from models.preprocessing import preprocessing_fn
from pipeline import config as config_lib


def transform(instances, schema_path, image_shape, temp_dir):
    schema = io_utils.SchemaReader().read(schema_path)
    metadata = dataset_metadata.DatasetMetadata(schema)
    with tft_beam.Context(temp_dir=temp_dir, force_tf_compat_v1=False):
        (transformed, _), _ = (instances, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, {"image_shape": image_shape})
        )
    return transformed


def instance(key: str, image: np.ndarray, label: int) -> dict:
    height, width, channels = image.shape
    return {
        features.KEY: [key.encode()],
        features.IMAGE: [image.tobytes()],
        features.HEIGHT: [height],
        features.WIDTH: [width],
        features.CHANNELS: [channels],
        features.LABEL: [label],
    }


def test_decodes_and_scales_pixels_and_passes_the_label_through(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (8, 8, 1), dtype=np.uint8) for _ in range(3)]
    images[0][0, 0, 0], images[0][7, 7, 0] = 0, 255
    instances = [instance(f"k{i}", image, i + 4) for i, image in enumerate(images)]
    transformed = transform(instances, config_lib.SCHEMAS["digits"], (8, 8, 1), str(tmp_path))
    assert len(transformed) == 3
    image_xf = features.transformed_name(features.IMAGE)
    label_xf = features.transformed_name(features.LABEL)
    for row, image, label in zip(transformed, images, (4, 5, 6), strict=True):
        pixels = np.asarray(row[image_xf], dtype=np.float32).reshape(8, 8, 1)
        np.testing.assert_allclose(pixels, image / 255.0, rtol=1e-6)
        assert int(np.ravel(row[label_xf])[0]) == label
    first = np.asarray(transformed[0][image_xf]).ravel()
    assert first[0] == 0.0 and first[-1] == 1.0
    assert set(transformed[0]) == {image_xf, label_xf}  # keys, shapes and raw bytes are not model inputs
