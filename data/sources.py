"""Dataset sources, each yielding ``LabeledImage`` items with stable keys."""

import os
import tempfile
import urllib.parse
import urllib.request
from typing import Iterator, NamedTuple

import numpy as np

from data import idx


class LabeledImage(NamedTuple):
    """One example: a stable key, a uint8 image of shape (height, width, channels), a label."""

    key: str
    image: np.ndarray
    label: int


MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


DIGITS_COUNT = 1797


def count(source_name: str, source: str = "", limit: int = 0) -> int | None:
    """How many items a source will yield, when that is known without reading it (for progress bars)."""
    if source_name == "digits":
        total = DIGITS_COUNT
    elif source_name == "mnist" and os.path.isdir(source):
        total = sum(idx.pair_count(images, labels) for _, images, labels in idx.find_pairs(source))
    else:
        return limit or None
    return min(total, limit) if limit else total


def digits() -> Iterator[LabeledImage]:
    """scikit-learn's bundled 1,797 (DIGITS_COUNT) 8x8 digits, scaled from 0..16 to uint8 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    for i, (image, label) in enumerate(zip(images, bunch.target, strict=True)):
        yield LabeledImage(f"digits-{i:05d}", image, int(label))


def mnist(source: str, limit: int | None = None) -> Iterator[LabeledImage]:
    """MNIST IDX pairs from a directory, or downloaded from an http(s) base URL into a temporary folder first.

    The temporary folder is removed once the items are read (or the reader stops early).
    """
    if urllib.parse.urlparse(source).scheme not in ("http", "https"):
        yield from _idx_items(source, limit)
        return
    with tempfile.TemporaryDirectory(prefix="mnist-idx-") as directory:
        _download(source, directory)
        yield from _idx_items(directory, limit)


def _idx_items(directory: str, limit: int | None) -> Iterator[LabeledImage]:
    """The labeled images of every IDX pair in ``directory``, keyed ``mnist-<prefix>-<index>``."""
    count = 0
    for prefix, images_path, labels_path in idx.find_pairs(directory):
        for i, (image, label) in enumerate(idx.images_and_labels(images_path, labels_path)):
            if limit is not None and count >= limit:
                return
            yield LabeledImage(f"mnist-{prefix}-{i:05d}", image, int(label))
            count += 1


def _download(base_url: str, directory: str) -> None:
    """Downloads MNIST's files from ``base_url`` into ``directory``."""
    for name in MNIST_FILES:
        url = base_url.rstrip("/") + "/" + name
        try:
            urllib.request.urlretrieve(url, os.path.join(directory, name))
        except OSError as err:
            raise idx.IdxError(f"{url}: download failed ({err})") from err
