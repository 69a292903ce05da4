"""``preprocessing_fn`` run for real through tf.Transform's AnalyzeAndTransformDataset."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tfx.utils import io_utils

from models import features
from models.preprocessing import decode_images, preprocessing_fn
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


def test_transform_keeps_the_raw_bytes_and_the_label_and_decoding_scales_them(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (8, 8, 1), dtype=np.uint8) for _ in range(3)]
    images[0][0, 0, 0], images[0][7, 7, 0] = 0, 255
    instances = [instance(f"k{i}", image, i + 4) for i, image in enumerate(images)]
    transformed = transform(instances, config_lib.preset_config("digits").schema_path, (8, 8, 1), str(tmp_path))
    assert len(transformed) == 3
    for row, image, label in zip(transformed, images, (4, 5, 6), strict=True):
        # Stored compactly: one byte per pixel, not a float32.
        assert row[features.IMAGE_XF] == image.tobytes()
        assert int(np.ravel(row[features.LABEL_XF])[0]) == label
    assert set(transformed[0]) == {features.IMAGE_XF, features.LABEL_XF}  # keys and shapes are not model inputs
    batch = tf.constant([row[features.IMAGE_XF] for row in transformed])
    decoded = decode_images(batch, (8, 8, 1)).numpy()
    assert decoded.shape == (3, 8, 8, 1) and decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, np.stack(images) / 255.0, rtol=1e-6)
    assert decoded[0, 0, 0, 0] == 0.0 and decoded[0, 7, 7, 0] == 1.0
    np.testing.assert_allclose(decode_images(batch[0], (8, 8, 1)).numpy(), decoded[0])  # one image too


def test_images_with_the_wrong_byte_count_stop_transform(tmp_path):
    good = np.zeros((8, 8, 1), np.uint8)
    short = instance("short", good, 1)
    short[features.IMAGE] = [good.tobytes()[:-3]]
    with pytest.raises(Exception, match="image bytes do not match image_shape"):
        transform(
            [instance("ok", good, 0), short], config_lib.preset_config("digits").schema_path, (8, 8, 1), str(tmp_path)
        )
