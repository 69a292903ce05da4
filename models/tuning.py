"""The KerasTuner search space and TFX's ``tuner_fn``.

``search_space()`` is the single definition of the hyperparameters: the Tuner searches it and
the Trainer falls back to its defaults when tuning is off.
"""

import keras_tuner
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models import inputs
from models import model as model_lib
from models.settings import TrainingSettings

OBJECTIVE = keras_tuner.Objective("val_" + model_lib.ACCURACY, direction="max")


def search_space() -> keras_tuner.HyperParameters:
    """Returns the hyperparameters the Tuner searches, with the defaults the Trainer falls back to."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("conv_filters", [16, 32, 48], default=32)
    hp.Choice("kernel_size", [3, 5], default=3)
    hp.Choice("dense_units", [64, 128, 256], default=128)
    hp.Float("dropout", 0.1, 0.5, step=0.1, default=0.3)
    hp.Float("learning_rate", 3e-4, 3e-3, sampling="log", default=1e-3)
    return hp


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Builds a RandomSearch tuner over ``search_space()`` on the transformed examples."""
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_set, eval_set = inputs.datasets(fn_args, tf_transform_output, settings)
    tuner = keras_tuner.RandomSearch(
        hypermodel=lambda hp: model_lib.build_model(hp, settings.image_shape, settings.num_classes),
        hyperparameters=search_space(),
        objective=OBJECTIVE,
        max_trials=settings.max_trials,
        seed=settings.seed,
        directory=fn_args.working_dir,
        project_name="search",
        overwrite=True,
    )
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={"x": train_set, "validation_data": eval_set, "epochs": settings.tuner_epochs},
    )
