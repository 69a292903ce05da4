"""Each component's cache key holds only what it uses: its settings and the fingerprint of its own module code.

Here, against the compiled pipeline: every setting's row of the table in docs/architecture.md, and
which file edits change which component's fingerprint, on a copy of models/ and multiworker/ (the
sources themselves are never edited). Runs that prove rows in ML Metadata: test_rerun_cache_keys.py.
"""

import dataclasses
import os
import shutil

import pytest
from conftest import PROJECT_ROOT

from pipeline import config as config_lib
from pipeline import dag, fingerprint

MODULES = {"Transform": dag.PREPROCESSING_FN, "Tuner": dag.TUNER_FN, "Trainer": dag.RUN_FN}


ALL = {"Transform", "Tuner", "Trainer"}
SEARCH_AND_TRAINING = {"Tuner", "Trainer"}
# Every file a fingerprint holds, and the components an edit to it runs again.
EDITS = {
    "models/__init__.py": ALL,
    "models/keras_env.py": ALL,
    "models/features.py": ALL,  # what preprocessing_fn imports
    "models/preprocessing.py": ALL,  # the input pipeline decodes with it
    "models/callbacks.py": SEARCH_AND_TRAINING,
    "models/devices.py": SEARCH_AND_TRAINING,
    "models/hyperparameters.py": SEARCH_AND_TRAINING,
    "models/inputs.py": SEARCH_AND_TRAINING,
    "models/model.py": SEARCH_AND_TRAINING,
    "models/settings.py": SEARCH_AND_TRAINING,
    "models/tuning.py": SEARCH_AND_TRAINING,  # the Trainer falls back to the search space's defaults
    "models/export.py": {"Trainer"},
    "models/training.py": {"Trainer"},
    "multiworker/__init__.py": {"Trainer"},
    "multiworker/cluster.py": {"Trainer"},
    "multiworker/launcher.py": {"Trainer"},
    "multiworker/loop.py": {"Trainer"},
}


@pytest.fixture
def project_copy(tmp_path) -> str:
    """A project root holding a copy of models/ and multiworker/, to edit."""
    for package in ("models", "multiworker"):
        shutil.copytree(os.path.join(PROJECT_ROOT, package), tmp_path / package)
    return str(tmp_path)


def versions(root: str) -> dict:
    return {node: fingerprint.code_version(dag.module_of(path), root) for node, path in MODULES.items()}


def test_every_file_a_fingerprint_holds_has_a_row():
    held = set()
    for path in MODULES.values():
        held |= {os.path.relpath(p, PROJECT_ROOT) for p in fingerprint.project_files(dag.module_of(path))}
    assert held == set(EDITS)


@pytest.mark.parametrize("edited, changed", sorted(EDITS.items()))
def test_an_edit_changes_exactly_the_fingerprints_of_the_components_that_run_it(project_copy, edited, changed):
    before = versions(project_copy)
    with open(os.path.join(project_copy, edited), "a") as f:
        f.write("\n# an edit\n")
    after = versions(project_copy)
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


TABLE = os.path.join(PROJECT_ROOT, "docs", "architecture.md")
NEVER_CACHED = "BaselineFinder"


def documented_table() -> dict:
    """``{setting: first component run again}`` from docs/architecture.md, "What a change runs again"."""
    section = open(TABLE).read().split("## What a change runs again", 1)[1]
    table = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            table.update({name.strip(" `"): cells[1] for name in cells[0].split(",")})
    return table


def key_parts(config) -> dict:
    """Each node's own part of TFX's cache key in the compiled pipeline: node info, executor spec, parameters and
    which channels feed it (``cache_utils.get_cache_context``; the input artifacts change when those run again)."""
    from tfx.dsl.compiler import compiler
    from tfx.proto.orchestration import pipeline_pb2

    ir = compiler.Compiler().compile(dag.create_pipeline(config))
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    parts = {}
    for node in (n.pipeline_node for n in ir.nodes):
        name = node.node_info.id
        spec = deployment.executor_specs[name] if name in deployment.executor_specs else None
        parts[name] = (
            ir.pipeline_info.SerializeToString(deterministic=True),
            node.node_info.SerializeToString(deterministic=True),
            spec.SerializeToString(deterministic=True) if spec else b"",
            node.parameters.SerializeToString(deterministic=True),
            node.inputs.SerializeToString(deterministic=True),
            node.execution_options.caching_options.enable_cache,
        )
    return parts


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The digits preset on prepared data, and files a changed setting can point to."""
    from data import prepare

    root = tmp_path_factory.mktemp("cache-keys")
    prepare.prepare("digits", str(root / "data"))
    files = {
        "schema": root / "schema.pbtxt",
        "space": root / "space.yaml",
        "values_a": root / "a.json",
        "values_b": root / "b.json",
    }
    files["schema"].write_text(open(os.path.join(PROJECT_ROOT, "schema", "schema.pbtxt")).read() + "\n# another\n")
    files["space"].write_text("params: [{parameterName: dropout, type: DOUBLE, minValue: 0.1, maxValue: 0.2}]")
    files["values_a"].write_text('{"dropout": 0.1}')
    files["values_b"].write_text('{"dropout": 0.3}')
    config = config_lib.get_config("digits", output_root=str(root), data_root=str(root / "data"))
    return config, {name: str(path) for name, path in files.items()}, str(root)


def changes(files: dict, root: str) -> dict:
    """One changed value per setting, and the settings it needs beside it (base, changed)."""
    file_mode = dict(tuning_mode="file", hyperparameters_file=files["values_a"])
    changed = dict(
        pipeline_name="another",
        data_root=os.path.join(root, "other-data"),
        pipeline_root=os.path.join(root, "p"),
        metadata_path=os.path.join(root, "m.db"),
        serving_dir=os.path.join(root, "s"),
        log_dir=os.path.join(root, "l"),
        beam_args=("--direct_num_workers=2",),
        enable_cache=False,
        image_shape=(4, 16, 1),
        num_classes=12,
        class_names=tuple("abcdefghij"),
        schema_path=files["schema"],
        use_schema_gen=True,
        split_buckets=(7, 2, 1),
        predefined_splits=True,
        tuning_mode="off",
        tuner_algorithm="bayesian",
        search_space_file=files["space"],
        tuner_max_trials=4,
        tuner_epochs=2,
        tuner_examples=100,
        train_epochs=3,
        early_stopping_patience=2,
        trainer_workers=2,
        batch_size=32,
        seed=7,
        input_cache_mb=0,
        accuracy_lower_bound=0.5,
        regression_tolerance=0.1,
    )
    cases = {name: ({}, {name: value}) for name, value in changed.items()}
    cases["hyperparameters_file"] = (file_mode, {"hyperparameters_file": files["values_b"]})
    return cases


def first_changed(before: dict, after: dict) -> str:
    """The first node, in the pipeline's order, whose own key part changed or that is new ("none": none)."""
    changed = [n for n in after if n != NEVER_CACHED and before.get(n) != after[n]]
    return changed[0] if changed else "none"


def test_the_documented_table_names_the_first_component_each_setting_runs_again(base):
    config, files, root = base
    table = documented_table()
    assert set(table) == {field.name for field in dataclasses.fields(config)}
    cases = changes(files, root)
    assert set(cases) == set(table)
    found, unchanged = {}, key_parts(config)
    for name, (needs, change) in cases.items():
        before = dataclasses.replace(config, **needs)
        parts = key_parts(before) if needs else unchanged
        found[name] = first_changed(parts, key_parts(dataclasses.replace(before, **change)))
    assert found == table
