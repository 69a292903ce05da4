"""The KerasTuner search space and TFX's ``tuner_fn``.

``search_space()`` is the single definition of the hyperparameters the Tuner searches and the
Trainer falls back to when tuning is off; names, ranges and file formats are in
``models.hyperparameters``.
"""

import datetime
import os

import keras
import keras_tuner
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models import callbacks, devices, features, inputs
from models import model as model_lib
from models.hyperparameters import ALGORITHMS, DEFAULTS, HyperparameterError, default_params
from models.settings import TuningSettings

OBJECTIVE = keras_tuner.Objective("val_" + features.ACCURACY, direction="max")
HYPERBAND_FACTOR = 3


def _define(hp: keras_tuner.HyperParameters, name: str, param: dict) -> None:
    """Adds one AI Platform-style ``param`` to ``hp`` (keeping the project default when it fits)."""
    kind = param["type"]
    default = DEFAULTS[name][2]
    if kind in ("DISCRETE", "CATEGORICAL"):
        values = param["values"]
        hp.Choice(name, values, default=default if default in values else values[0])
    else:
        low, high = param["minValue"], param["maxValue"]
        sampling = "log" if param.get("scaleType", "LINEAR").endswith("LOG_SCALE") else "linear"
        step = 1 if kind == "INTEGER" else None
        define = hp.Int if kind == "INTEGER" else hp.Float
        kwargs = {"default": default} if low <= default <= high else {}
        define(name, low, high, step=step, sampling=sampling, **kwargs)


def search_space(params: list | None = None) -> keras_tuner.HyperParameters:
    """The hyperparameters the Tuner searches; ``params`` (parsed by ``parse_search_space``) replace ranges."""
    overrides = {p["parameterName"]: p for p in params or []}
    hp = keras_tuner.HyperParameters()
    for param in default_params():
        name = param["parameterName"]
        _define(hp, name, overrides.get(name, param))
    return hp


def with_values(values: dict) -> keras_tuner.HyperParameters:
    """The search space with ``values`` fixed (unset names keep their defaults)."""
    hp = search_space()
    hp.values.update(values)
    return hp


class DefaultsFirstOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is the search space's defaults.

    So the best a search reports is never worse than the defaults by its own objective: the
    budget can only buy an improvement (the benchmark shows both side by side).
    """

    def populate_space(self, trial_id):
        """The defaults while they are untried, then random values."""
        defaults = dict(self.hyperparameters.values)
        if not self._duplicate(defaults):
            return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": defaults}
        return super().populate_space(trial_id)


class RandomSearch(callbacks.TrialLog, keras_tuner.Tuner):
    """Random search from the defaults (``DefaultsFirstOracle``), logging every trial."""


class BayesianSearch(callbacks.TrialLog, keras_tuner.BayesianOptimization):
    """KerasTuner's Bayesian optimisation, logging every trial."""


class HyperbandSearch(callbacks.TrialLog, keras_tuner.Hyperband):
    """KerasTuner's Hyperband, logging every trial."""


def make_tuner(settings: TuningSettings, directory: str, strategy, total_steps: int) -> keras_tuner.Tuner:
    """The KerasTuner search named by ``settings.tuner_algorithm`` over ``settings.search_space``.

    Every trial's model trains for ``total_steps`` on its one-cycle schedule.
    """
    hyperparameters = search_space(settings.search_space)
    common = dict(
        hypermodel=lambda hp: model_lib.build_model(hp, settings.image_shape, settings.num_classes, total_steps),
        directory=directory,
        project_name="search",
        overwrite=True,
        distribution_strategy=strategy,
    )
    search = dict(hyperparameters=hyperparameters, objective=OBJECTIVE, seed=settings.seed)
    if settings.tuner_algorithm == "random":
        return RandomSearch(oracle=DefaultsFirstOracle(max_trials=settings.tuner_max_trials, **search), **common)
    if settings.tuner_algorithm == "bayesian":
        return BayesianSearch(max_trials=settings.tuner_max_trials, **search, **common)
    if settings.tuner_algorithm == "hyperband":
        # Hyperband sizes its own brackets from the epoch budget rather than a trial count.
        return HyperbandSearch(max_epochs=max(2, settings.tuner_epochs), factor=HYPERBAND_FACTOR, **search, **common)
    raise HyperparameterError(f"tuner_algorithm must be one of {ALGORITHMS}, got {settings.tuner_algorithm!r}")


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds the configured tuner on the transformed examples; each trial logs to TensorBoard.

    Seeded like the Trainer: the oracle draws the same candidates and every trial starts from
    the same weights, subset and shuffle order (models/inputs.py), so two runs on the same data
    score every trial the same and pick the same best values (BUILD_NOTES.md, "Reliability").
    """
    settings = TuningSettings.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(settings.seed)
    strategy = devices.strategy(devices.visible_gpus())
    replicas = strategy.num_replicas_in_sync
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    # Trials train on a subset: enough to rank candidates, a fraction of the Trainer's cost.
    examples = inputs.count_examples(fn_args.train_files)
    if settings.tuner_examples:
        examples = min(examples, settings.tuner_examples)
    fit_inputs = inputs.fit_inputs(fn_args, tf_transform_output, settings, examples, replicas, train_limit=examples)
    total_steps = fit_inputs["steps_per_epoch"] * settings.tuner_epochs
    tuner = make_tuner(settings, fn_args.working_dir, strategy, total_steps)
    log_dir = ""
    if settings.tensorboard_dir:
        # One folder per search; KerasTuner gives every trial its own subfolder of it.
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        log_dir = os.path.join(settings.tensorboard_dir, stamp)
    tuner.log_dir = log_dir
    fit_callbacks = [
        callbacks.EpochLog(devices.global_batch_size(settings.batch_size, replicas), log_dir, progress=False)
    ]
    if log_dir:
        fit_callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir))
    fit_kwargs = {**fit_inputs, "epochs": settings.tuner_epochs, "verbose": 0}
    return TunerFnResult(tuner=tuner, fit_kwargs={**fit_kwargs, "callbacks": fit_callbacks})
