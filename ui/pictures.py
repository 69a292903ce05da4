"""Images for the UI: the test examples a model gets wrong, sample images per class, as PNG data URIs.

Mistakes are computed on demand: the run's test split (ImportExampleGen's raw examples) through
the model it pushed (else the one it trained), with the serving code (serving/loaded_model.py), so
what the page shows is what the REST server would answer. Each result is kept in memory, keyed on
the model's and the examples' folders, which never change once written.
"""

import base64
import glob
import io
import os
import threading
from typing import Dict, List, Tuple

import numpy as np

from data.layout import TEST
from models import features

# Most mistakes the page shows, most confident first; and how many examples a data page reads per split.
SHOWN_MISTAKES = 60
SAMPLES_PER_CLASS = 8
SAMPLE_SCAN = 4000
BATCH = 256


def png_data_uri(pixels: bytes, shape: Tuple[int, int, int]) -> str:
    """A ``data:image/png`` URI of raw uint8 HWC pixels (grey or RGB), for an ``<img>`` with no file behind it."""
    from PIL import Image

    height, width, channels = shape
    array = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, channels)
    image = Image.fromarray(array[:, :, 0] if channels == 1 else array[:, :, :3])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def read_split(examples_uri: str, split: str, limit: int = 0) -> Tuple[List[bytes], np.ndarray, tuple]:
    """(pixel bytes, labels, image shape) of a split of an Examples artifact (gzipped TFRecords of tf.Examples)."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    images, labels, shape = [], [], None
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if limit:
        dataset = dataset.take(limit)
    for record in dataset.as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        images.append(feature[features.IMAGE].bytes_list.value[0])
        labels.append(feature[features.LABEL].int64_list.value[0])
        shape = shape or tuple(int(feature[key].int64_list.value[0]) for key in features.SHAPE_KEYS)
    return images, np.asarray(labels, dtype=np.int64), shape


class Mistakes:
    """Computes and keeps, per (model folder, examples folder), the test examples the model gets wrong."""

    def __init__(self):
        self._results: Dict[Tuple[str, str], dict] = {}
        self._models: Dict[str, object] = {}
        self._lock = threading.Lock()  # one computation at a time: each is a full pass over the test split

    def model(self, path: str):
        """The SavedModel in ``path`` loaded by the serving code, once."""
        from serving.loaded_model import load

        if path not in self._models:
            self._models[path] = load(0, path)
        return self._models[path]

    def of(self, model_path: str, examples_uri: str) -> dict:
        """``{"total", "wrong", "shown": [{"image", "label", "predicted", "probability"}...]}``, surest first."""
        key = (model_path, examples_uri)
        with self._lock:
            if key not in self._results:
                self._results[key] = self._compute(model_path, examples_uri)
            return self._results[key]

    def _compute(self, model_path: str, examples_uri: str) -> dict:
        model = self.model(model_path)
        images, labels, shape = read_split(examples_uri, TEST)
        probabilities = (
            np.concatenate(
                [model.predict(images[i : i + BATCH])[features.PROBABILITIES] for i in range(0, len(images), BATCH)]
            )
            if images
            else np.zeros((0, 0))
        )
        predicted = probabilities.argmax(axis=1) if len(images) else np.zeros(0, dtype=np.int64)
        wrong = np.flatnonzero(predicted != labels)
        order = sorted(wrong, key=lambda i: -probabilities[i, predicted[i]])[:SHOWN_MISTAKES]
        names = model.class_names
        shown = [
            {
                "image": png_data_uri(images[i], shape),
                "label": _name(names, int(labels[i])),
                "predicted": _name(names, int(predicted[i])),
                "probability": float(probabilities[i, predicted[i]]),
            }
            for i in order
        ]
        return {"total": len(images), "wrong": len(wrong), "shown": shown}


def _name(names: list, label: int) -> str:
    return f"{label} ({names[label]})" if label < len(names) else str(label)


def samples(examples_uri: str, split: str) -> Dict[int, List[str]]:
    """Up to SAMPLES_PER_CLASS images per label, as data URIs, from the first SAMPLE_SCAN examples of a split."""
    images, labels, shape = read_split(examples_uri, split, SAMPLE_SCAN)
    found: Dict[int, List[str]] = {}
    for pixels, label in zip(images, labels, strict=True):
        shown = found.setdefault(int(label), [])
        if len(shown) < SAMPLES_PER_CLASS:
            shown.append(png_data_uri(pixels, shape))
    return dict(sorted(found.items()))
