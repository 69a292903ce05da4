"""Shared test helpers: where the real MNIST-10k files are, and small dataset builders."""

import hashlib
import os
import types

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


MNIST_SLICE = 2000  # examples in the shared end-to-end run: 1,600 train, 400 eval


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory, mnist_dir):
    """One quick local pipeline run on a slice of MNIST-10k, shared by every test that needs one.

    Returns the flags, config and data folder, and ``first_run``: that run as read from MLMD.
    Tests may run the pipeline again with these flags; they must not delete what it wrote.
    """
    import local_runner
    from data import prepare
    from inspection import history
    from inspection.store import open_store
    from pipeline.flags import parse_args

    root = tmp_path_factory.mktemp("mnist-run")
    flags = ["--dataset", "mnist", "--quick", "--output-root", str(root)]
    config = parse_args(flags)
    prepare.prepare("mnist", config.data_root, source=mnist_dir, limit=MNIST_SLICE)
    assert local_runner.main(flags) == 0
    first_run = history.latest_run(open_store(config.metadata_path), config.pipeline_name)
    return types.SimpleNamespace(root=root, flags=flags, config=config, data_root=config.data_root, first_run=first_run)


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
