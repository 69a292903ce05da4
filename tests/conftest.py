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


# The work units of ``make test`` (pytest-xdist, ``--dist loadfile --no-loadscope-reorder``): each module
# is one, except that the modules using the session's ``mnist_run`` are one together, so that run is made
# once, on one worker (pytest_xdist_make_scheduler below; xdist's own ``loadgroup`` does not group under
# pytest 9.2: pytest-dev/pytest-xdist#1386). Units go to whichever worker is free in collection order, so
# the longest, named here, come first and no worker runs a long one alone at the end.
SHARED_RUN = "mnist_run"
SHARED_RUN_MODULES = (
    "test_inspect",
    "test_make_targets",
    "test_notebooks",
    "test_pipeline_e2e",
    "test_rerun_cache_keys",
    "test_serving",
    "test_serving_limits",
    "test_serving_versions",
    "test_ui",
)
LONGEST_FIRST = (
    SHARED_RUN,
    "test_preflight_kfp",
    "test_faults",
    "test_distributed",
    "test_image_folders",
    "test_preflight",
    "test_console",
    "test_stopped_runs",
)


def work_unit(module: str) -> str:
    """The unit of work a test module belongs to: SHARED_RUN or the module itself."""
    return SHARED_RUN if module in SHARED_RUN_MODULES else module


def pytest_collection_modifyitems(config, items):
    """Checks that SHARED_RUN_MODULES names every module using ``mnist_run``, then puts the LONGEST_FIRST
    units first; the rest keep their order."""
    unlisted = {item.module.__name__ for item in items if SHARED_RUN in item.fixturenames} - set(SHARED_RUN_MODULES)
    if unlisted:
        raise pytest.UsageError(f"tests/conftest.py: add {', '.join(sorted(unlisted))} to SHARED_RUN_MODULES")
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.module.__name__), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the SHARED_RUN_MODULES as one unit."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedRunScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(os.path.splitext(os.path.basename(nodeid.split("::", 1)[0]))[0])

    return SharedRunScheduling(config, log)


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
