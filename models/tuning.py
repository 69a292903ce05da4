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

from models import devices, features, inputs
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


def make_tuner(settings: TuningSettings, directory: str, strategy) -> keras_tuner.Tuner:
    """The KerasTuner oracle named by ``settings.tuner_algorithm`` over ``settings.search_space``."""
    common = dict(
        hypermodel=lambda hp: model_lib.build_model(hp, settings.image_shape, settings.num_classes),
        hyperparameters=search_space(settings.search_space),
        objective=OBJECTIVE,
        seed=settings.seed,
        directory=directory,
        project_name="search",
        overwrite=True,
        distribution_strategy=strategy,
    )
    if settings.tuner_algorithm == "random":
        return keras_tuner.RandomSearch(max_trials=settings.max_trials, **common)
    if settings.tuner_algorithm == "bayesian":
        return keras_tuner.BayesianOptimization(max_trials=settings.max_trials, **common)
    if settings.tuner_algorithm == "hyperband":
        # Hyperband sizes its own brackets from the epoch budget rather than a trial count.
        return keras_tuner.Hyperband(max_epochs=max(2, settings.tuner_epochs), factor=HYPERBAND_FACTOR, **common)
    raise HyperparameterError(f"tuner_algorithm must be one of {ALGORITHMS}, got {settings.tuner_algorithm!r}")


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds the configured tuner on the transformed examples; each trial logs to TensorBoard.

    Seeded like the Trainer: the oracle draws the same candidates and every trial starts from
    the same weights and shuffle order, so two runs on the same data pick the same best values
    (up to float non-determinism on CPU threads; BUILD_NOTES.md, "Reliability").
    """
    settings = TuningSettings.from_custom_config(fn_args.custom_config)
    keras.utils.set_random_seed(settings.seed)
    strategy = devices.strategy(devices.visible_gpus())
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_set, eval_set = inputs.datasets(fn_args, tf_transform_output, settings, strategy.num_replicas_in_sync)
    tuner = make_tuner(settings, fn_args.working_dir, strategy)
    callbacks = []
    if settings.tensorboard_dir:
        # KerasTuner gives every trial its own subfolder of this log_dir.
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(settings.tensorboard_dir, stamp)))
    fit_kwargs = {"x": train_set, "validation_data": eval_set, "epochs": settings.tuner_epochs, "verbose": 2}
    return TunerFnResult(tuner=tuner, fit_kwargs={**fit_kwargs, "callbacks": callbacks})
