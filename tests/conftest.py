"""Shared test helpers: the committed MNIST fixture, the session's shared pipeline run, small dataset builders."""

import hashlib
import os
import subprocess
import time
import types

import numpy as np
import pytest

from models import keras_env  # noqa: F401  (before anything imports TensorFlow)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The first 1,000 official MNIST test images, committed (tests/fixtures/mnist-1k/README.md), so
# every test runs on a clone with no ../shared; benchmarks use the full set there.
MNIST_DIR = os.path.join(PROJECT_ROOT, "tests", "fixtures", "mnist-1k")
MNIST_IMAGES = os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")
MNIST_LABELS = os.path.join(MNIST_DIR, "t10k-labels-idx1-ubyte.gz")
MNIST_COUNT = 1000  # examples in the shared end-to-end run: about 800 train, 100 eval, 100 test
WAIT_S = 600  # bounds each wait on a real process in a test; never reached when all is well
# The Google Cloud side of the cloud configs the compile and preflight tests use (nothing is reached).
CLOUD_BASE = {
    "project": "test-project",
    "region": "europe-west4",
    "pipeline_root": "gs://test-bucket/pipelines",
    "data_root": "gs://test-bucket/data/digits",
    "image": "europe-west4-docker.pkg.dev/test-project/pipelines/digits:test",
    "pipeline": {"quick": True},
}


# The modules whose module-scoped runs take minutes, longest first. Under ``make test`` (pytest-xdist,
# ``--dist loadfile --no-loadscope-reorder``) modules go to whichever worker is free in this order, so
# starting with the longest keeps one worker from running the last long module alone.
LONGEST_FIRST = (
    "test_faults",
    "test_distributed",
    "test_preflight_kfp",
    "test_image_folders",
    "test_preflight",
    "test_console",
    "test_stopped_runs",
)


def pytest_collection_modifyitems(config, items):
    """Puts the LONGEST_FIRST modules first, in that order; the rest keep their order."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__, len(rank)))


@pytest.fixture(scope="session")
def mnist_dir() -> str:
    """The committed MNIST-1k folder of IDX files."""
    return MNIST_DIR


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
    flags = ["--preset", "mnist", "--quick", "--output-root", str(root)]
    config = parse_args(flags)
    prepare.prepare("mnist", config.data_root, source=mnist_dir)
    assert local_runner.main(flags) == 0
    first_run = history.latest_run(open_store(config.metadata_path), config.pipeline_name)
    return types.SimpleNamespace(root=root, flags=flags, config=config, data_root=config.data_root, first_run=first_run)


def wait_for(predicate, process: subprocess.Popen, what: str) -> None:
    """Polls until ``predicate()`` holds; fails (with the process's stderr, if piped) if ``process`` ends
    first or WAIT_S pass: a hang fails the test instead of stalling it."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.stderr.read()[-2000:] if process.stderr else ''}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{WAIT_S} s passed before {what}")
        time.sleep(0.2)


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


def component_settings(settings_class, **values):
    """``settings_class`` as the pipeline fills it from the digits preset, with ``values`` (settings or derived)."""
    import dataclasses

    from models.settings import select
    from pipeline.config import get_config

    derived = {f.name for f in dataclasses.fields(settings_class) if f.metadata.get("derived")}
    config = get_config("digits", **{name: value for name, value in values.items() if name not in derived})
    derived_values = {"code_version": "", **{name: value for name, value in values.items() if name in derived}}
    return select(settings_class, config, **derived_values)
