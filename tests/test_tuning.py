"""Tuning modes, search-space and fixed-value files, and device selection, without a pipeline run."""

import gc
import json
import types

import keras
import keras_tuner
import numpy as np
import pytest
from conftest import component_settings

import local_runner
from models import callbacks, devices, hyperparameters, training, tuning
from models import model as model_lib
from models.settings import TrainingSettings, TuningSettings
from pipeline import config as config_lib
from pipeline import facts

HPTUNING = """
trainingInput:
  hyperparameters:
    goal: MAXIMIZE
    params:
      - parameterName: learning_rate
        type: DOUBLE
        minValue: 0.0005
        maxValue: 0.005
        scaleType: UNIT_LOG_SCALE
      - parameterName: conv_filters
        type: DISCRETE
        discreteValues: [8, 64]
      - parameterName: dense_units
        type: INTEGER
        minValue: 32
        maxValue: 96
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_an_hptuning_style_file_replaces_ranges_and_keeps_the_rest(tmp_path):
    config = config_lib.get_config(search_space_file=write(tmp_path, "space.yaml", HPTUNING))
    space = tuning.search_space(facts.search_space(config))
    by_name = {hp.name: hp for hp in space.space}
    assert by_name["learning_rate"].min_value == 0.0005 and by_name["learning_rate"].sampling == "log"
    assert list(by_name["conv_filters"].values) == [8, 64]
    assert (by_name["dense_units"].min_value, by_name["dense_units"].max_value) == (32, 96)
    assert list(by_name["kernel_size"].values) == [3, 5]  # not in the file: the default range
    assert set(space.values) == set(hyperparameters.DEFAULTS)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("unknown.yaml", "params: [{parameterName: filters, type: DISCRETE, discreteValues: [8]}]", "unknown"),
        ("empty.yaml", "params: [{parameterName: dropout, type: DOUBLE, minValue: 0.5, maxValue: 0.5}]", "empty"),
        ("nochoice.yaml", "params: [{parameterName: kernel_size, type: DISCRETE, discreteValues: []}]", "empty"),
        ("broken.yaml", "params: [unclosed", "does not parse"),
        ("badtype.yaml", "params: [{parameterName: dropout, type: FLOAT, minValue: 0.1, maxValue: 0.2}]", "type"),
    ],
)
def test_a_bad_search_space_file_is_refused_before_anything_runs(tmp_path, capsys, name, text, message):
    output_root = tmp_path / "outputs"
    path = write(tmp_path, name, text)
    assert local_runner.main(["--search-space-file", path, "--output-root", str(output_root)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"local_runner.py: error: {path}: ") and message in error and error.count("\n") == 1
    assert not output_root.exists()


def test_fixed_values_come_from_json_or_the_tuners_own_artifact(tmp_path):
    best = keras_tuner.HyperParameters.from_config(tuning.search_space().get_config())
    best.values.update(conv_filters=48, dropout=0.2)
    path = write(tmp_path, "best_hyperparameters.txt", json.dumps(best.get_config()))
    config = config_lib.get_config(tuning_mode="file", hyperparameters_file=path)
    assert facts.fixed_hyperparameters(config)["conv_filters"] == 48
    flat = write(tmp_path, "fixed.json", '{"dense_units": 64, "learning_rate": 0.002}')
    values = facts.fixed_hyperparameters(config_lib.get_config(tuning_mode="file", hyperparameters_file=flat))
    assert tuning.with_values(values).values == {**tuning.search_space().values, **values}


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"filters": 8}', "unknown"),
        ('{"dropout": "high"}', "positive number"),
        ("{}", "non-empty"),
        ('{"conv_filters": 8.5}', "whole number"),
        ("{not json", "does not parse"),
    ],
)
def test_a_bad_fixed_values_file_is_refused(tmp_path, text, message):
    config = config_lib.get_config(tuning_mode="file", hyperparameters_file=write(tmp_path, "hp.json", text))
    with pytest.raises(config_lib.ConfigError, match=message):
        facts.fixed_hyperparameters(config)


def test_file_mode_needs_a_file_and_modes_and_algorithms_are_checked(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="go together"):
        config_lib.get_config(tuning_mode="file")
    with pytest.raises(config_lib.ConfigError, match="tuning_mode"):
        config_lib.get_config(tuning_mode="sometimes")
    with pytest.raises(config_lib.ConfigError, match="tuner_algorithm"):
        config_lib.get_config(tuner_algorithm="grid")


@pytest.mark.parametrize(
    "algorithm, oracle",
    [
        ("random", keras_tuner.oracles.RandomSearchOracle),
        ("bayesian", keras_tuner.oracles.BayesianOptimizationOracle),
        ("hyperband", keras_tuner.oracles.HyperbandOracle),
    ],
)
def test_the_configured_algorithm_drives_the_search(tmp_path, algorithm, oracle):
    settings = component_settings(TuningSettings, tuner_algorithm=algorithm, tuner_max_trials=2)
    tuner = tuning.make_tuner(settings, str(tmp_path), devices.strategy([]), total_steps=10)
    assert isinstance(tuner.oracle, oracle)


def test_the_trainer_uses_artifact_then_fixed_then_default_values():
    best = tuning.with_values({"conv_filters": 16})
    from_artifact = types.SimpleNamespace(hyperparameters=best.get_config())
    settings = component_settings(TrainingSettings, fixed_hyperparameters={"conv_filters": 48})
    assert training.hyperparameters(from_artifact, settings).values["conv_filters"] == 16
    nothing = types.SimpleNamespace(hyperparameters=None)
    assert training.hyperparameters(nothing, settings).values["conv_filters"] == 48
    defaults = component_settings(TrainingSettings)
    assert training.hyperparameters(nothing, defaults).values == tuning.search_space().values
    reuse = component_settings(TrainingSettings, require_hyperparameters=True)
    with pytest.raises(hyperparameters.HyperparametersNotFoundError, match="no best hyperparameters yet"):
        training.hyperparameters(nothing, reuse)


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_without_gpus_it_stays_on_the_default_strategy_in_float32(restore_policy):
    strategy = devices.strategy([])
    assert strategy.num_replicas_in_sync == 1
    assert keras.mixed_precision.global_policy().name == "float32"
    assert tuning_model((8, 8, 1)).output.dtype == "float32"


def tuning_model(shape):
    return model_lib.build_model(tuning.search_space(), shape, num_classes=10, total_steps=10)


def flaky_search(tmp_path, failing_calls) -> tuple:
    """The project's random search on 8x8 inputs, whose hypermodel raises on the trials numbered in ``failing_calls``,
    and the list its trials' builds fill with ``gc.get_freeze_count()``."""
    calls = []  # one per trial's build: KerasTuner's own build, when it reads the search space, is not one

    def hypermodel(hp):
        if searching:
            calls.append(gc.get_freeze_count())
            if len(calls) in failing_calls:
                raise ValueError(f"no model for call {len(calls)}")
        return model_lib.build_model(hp, (8, 8, 1), 10, total_steps=2)

    searching = False

    oracle = tuning.DefaultsFirstOracle(
        max_trials=3, hyperparameters=tuning.search_space(), objective=tuning.OBJECTIVE, seed=0
    )
    search = tuning.RandomSearch(oracle=oracle, hypermodel=hypermodel, directory=str(tmp_path), overwrite=True)
    searching = True
    return search, calls


def fit_kwargs() -> dict:
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, 32)
    return {"x": x, "y": y, "validation_data": (x, y), "epochs": 1, "batch_size": 16, "verbose": 0}


def test_a_failed_trial_is_reported_with_its_cause_and_the_search_goes_on(tmp_path, caplog):
    caplog.set_level("INFO", logger=callbacks.PROGRESS.name)
    search, frozen = flaky_search(tmp_path, failing_calls={2})
    search.search(**fit_kwargs())
    lines = [record.getMessage() for record in caplog.records if record.name == callbacks.PROGRESS.name]
    assert len(lines) == 3 and lines[1].startswith("trial 2/3: FAILED after ")
    assert "ValueError: no model for call 2" in lines[1]
    assert lines[0].startswith("trial 1/3: score ") and lines[2].startswith("trial 3/3: score ")
    assert search.get_best_hyperparameters(1)
    # Every trial ran with the objects alive before the search frozen, and none stay frozen after it.
    assert len(frozen) == 3 and all(count > 0 for count in frozen)
    assert gc.get_freeze_count() == 0


def test_when_every_trial_fails_the_search_ends_with_the_first_cause_in_one_line(tmp_path):
    search, _ = flaky_search(tmp_path, failing_calls={1, 2, 3})
    with pytest.raises(callbacks.TrialsFailed) as raised:
        search.search(**fit_kwargs())
    assert str(raised.value) == "every Tuner trial failed; the first: ValueError: no model for call 1"
    assert gc.get_freeze_count() == 0
