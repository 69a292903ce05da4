"""Dataset sources, each yielding ``LabeledImage`` items with stable keys."""

import os
import tempfile
import urllib.parse
import urllib.request
from typing import Iterator

import numpy as np

from data import idx
from data.format import LabeledImage

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def digits() -> Iterator[LabeledImage]:
    """scikit-learn's bundled 1,797 8x8 digits, scaled from 0..16 to uint8 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    for i, (image, label) in enumerate(zip(images, bunch.target, strict=True)):
        yield LabeledImage(f"digits-{i:05d}", image, int(label))


def mnist(source: str, limit: int | None = None) -> Iterator[LabeledImage]:
    """MNIST IDX pairs from a directory, or downloaded from an http(s) base URL first."""
    directory = _download(source) if urllib.parse.urlparse(source).scheme in ("http", "https") else source
    count = 0
    for prefix, images_path, labels_path in idx.find_pairs(directory):
        images, labels = idx.read_images_and_labels(images_path, labels_path)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            if limit is not None and count >= limit:
                return
            yield LabeledImage(f"mnist-{prefix}-{i:05d}", image, int(label))
            count += 1


def _download(base_url: str) -> str:
    """Downloads MNIST's files from ``base_url`` into a temporary folder; returns the folder."""
    directory = tempfile.mkdtemp(prefix="mnist-idx-")
    for name in MNIST_FILES:
        url = base_url.rstrip("/") + "/" + name
        try:
            urllib.request.urlretrieve(url, os.path.join(directory, name))
        except OSError as err:
            raise idx.IdxError(f"{url}: download failed ({err})") from err
    return directory
