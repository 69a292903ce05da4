"""Shared test helpers: where the real MNIST-10k files are, and small dataset builders."""

import hashlib
import os

import numpy as np
import pytest

from models import keras_env  # noqa: F401  (before anything imports TensorFlow)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.environ.get("MNIST_DIR", os.path.join(PROJECT_ROOT, "..", "shared", "datasets", "mnist-10k"))
MNIST_IMAGES = os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")
MNIST_LABELS = os.path.join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def mnist_dir() -> str:
    """The shared MNIST-10k folder (never committed; see README.md "Data")."""
    if not os.path.isfile(MNIST_IMAGES):
        pytest.skip(f"MNIST-10k not found at {MNIST_DIR}: set MNIST_DIR to a folder with the t10k IDX files")
    return MNIST_DIR


def tree_digest(root: str) -> str:
    """A digest of every file's relative path and bytes under ``root``."""
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def random_image(rng: np.random.Generator, shape=(28, 28, 1)) -> np.ndarray:
    """A uint8 image of ``shape`` with random pixels."""
    return rng.integers(0, 256, size=shape, dtype=np.uint8)
