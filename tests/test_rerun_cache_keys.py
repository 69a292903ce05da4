"""Rows of the cache-key table (docs/architecture.md, "What a change runs again") proven in ML Metadata.

Each test runs the session's shared MNIST pipeline again with one change and reads every
component's state from the store. The accuracy bound of 1.0 keeps these models from being pushed,
so the tests that read the pushed model see the first run's.
"""

import shutil
import subprocess
import sys

from conftest import PROJECT_ROOT

import local_runner
from inspection import history
from inspection.store import open_store

DATA_STAGE = ("ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate")
NOT_PUSHED = ["--accuracy-lower-bound", "1.0"]
# What a project copy needs to run the pipeline: everything the runner imports, no tests or outputs.
SKIPPED = shutil.ignore_patterns(".*", "__pycache__", "tests", "notebooks", "docs", "outputs", "*.egg-info")


def states_after(mnist_run) -> dict:
    """Each component's state in the pipeline's newest run."""
    return history.latest_run(open_store(mnist_run.config.metadata_path), mnist_run.config.pipeline_name).states()


def expected(cached: tuple, ran: tuple) -> dict:
    return {**dict.fromkeys(cached, "CACHED"), **dict.fromkeys(ran, "COMPLETE")}


def test_a_trainer_setting_runs_the_trainer_again_and_leaves_the_tuner_cached(mnist_run):
    assert local_runner.main([*mnist_run.flags, "--train-epochs", "2", *NOT_PUSHED]) == 0
    ran = ("BaselineFinder", "Trainer", "Evaluator", "MetricsPublisher", "Pusher")
    assert states_after(mnist_run) == expected((*DATA_STAGE, "Transform", "Tuner"), ran)


def test_the_accuracy_bound_runs_only_the_evaluator_and_what_follows(mnist_run):
    assert local_runner.main([*mnist_run.flags, *NOT_PUSHED]) == 0
    ran = ("BaselineFinder", "Evaluator", "MetricsPublisher", "Pusher")
    assert states_after(mnist_run) == expected((*DATA_STAGE, "Transform", "Tuner", "Trainer"), ran)


def test_an_edit_to_the_model_runs_the_tuner_again_and_leaves_transform_cached(mnist_run, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=SKIPPED)
    with open(project / "models" / "model.py", "a") as f:
        f.write("\n# an edit\n")
    # The same store and data; the preset's schema path is kept, so only the code differs.
    schema = ["--schema-path", mnist_run.config.schema_path]
    run = subprocess.run(
        [sys.executable, "local_runner.py", *mnist_run.flags, *schema, *NOT_PUSHED],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ran = ("BaselineFinder", "Tuner", "Trainer", "Evaluator", "MetricsPublisher", "Pusher")
    assert states_after(mnist_run) == expected((*DATA_STAGE, "Transform"), ran)
