"""Each component's cache key holds only what it uses: its settings and the fingerprint of its own module code.

The pipeline runs that prove the states in ML Metadata are in test_pipeline_e2e.py (epochs and
tuning mode leave Transform cached); here, which edits change which component's fingerprint, on
a copy of the project's models/ (the source files themselves are never edited).
"""

import dataclasses
import os
import shutil

import pytest
from conftest import PROJECT_ROOT

from pipeline import config as config_lib
from pipeline import dag, fingerprint

MODULES = {"Transform": dag.PREPROCESSING_FN, "Tuner": dag.TUNER_FN, "Trainer": dag.RUN_FN}


@pytest.fixture
def models_copy(tmp_path) -> str:
    """A project root holding a copy of models/, to edit."""
    shutil.copytree(os.path.join(PROJECT_ROOT, "models"), tmp_path / "models")
    return str(tmp_path)


def versions(root: str) -> dict:
    return {node: fingerprint.code_version(dag.module_of(path), root) for node, path in MODULES.items()}


@pytest.mark.parametrize(
    "edited, changed",
    [
        ("model.py", {"Tuner", "Trainer"}),
        ("training.py", {"Trainer"}),
        ("tuning.py", {"Tuner", "Trainer"}),  # the Trainer falls back to the search space's defaults
        ("preprocessing.py", {"Transform", "Tuner", "Trainer"}),  # the input pipeline decodes with it
        ("features.py", {"Transform", "Tuner", "Trainer"}),  # what preprocessing_fn imports
    ],
)
def test_an_edit_changes_exactly_the_fingerprints_of_the_components_that_run_it(models_copy, edited, changed):
    before = versions(models_copy)
    with open(os.path.join(models_copy, "models", edited), "a") as f:
        f.write("\n# an edit\n")
    after = versions(models_copy)
    assert {node for node in MODULES if before[node] != after[node]} == changed


def test_the_fingerprints_cover_the_files_each_entry_module_imports():
    # Transform's covers only what preprocessing_fn imports: editing the model never re-runs it.
    files = {os.path.relpath(p, PROJECT_ROOT) for p in fingerprint.project_files("models.preprocessing")}
    assert files == {"models/__init__.py", "models/keras_env.py", "models/features.py", "models/preprocessing.py"}


def test_each_component_gets_only_the_settings_it_reads(tmp_path):
    config = config_lib.get_config("digits", output_root=str(tmp_path))
    transform = dag.transform_settings(config).to_custom_config()
    assert set(transform) == {"image_shape", "code_version"}
    for changed in (
        dict(train_epochs=3),
        dict(tuning_mode="off"),
        dict(early_stopping_patience=9),
        dict(batch_size=32),
    ):
        other = dataclasses.replace(config, **changed)
        assert dag.transform_settings(other).to_custom_config() == transform
    tuner = dag.tuning_settings(config).to_custom_config()
    assert dag.tuning_settings(dataclasses.replace(config, train_epochs=3)).to_custom_config() == tuner
    trainer = dag.training_settings(config).to_custom_config()
    assert dag.training_settings(dataclasses.replace(config, tuner_max_trials=9)).to_custom_config() == trainer
    assert dag.training_settings(dataclasses.replace(config, train_epochs=3)).to_custom_config() != trainer
