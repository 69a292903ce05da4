"""The executors a cloud run's Transform, Tuner and Trainer steps name: TFX's own, after a check of the image's code.

Each component's cache key holds the fingerprint of the module code it runs (``code_version`` in
its ``custom_config``, pipeline/fingerprint.py), computed from this checkout when the pipeline is
compiled; the step runs the code inside the pipeline image, whose tag (``:latest``) may name a
build of other code. Before TFX's executor runs, these recompute the fingerprint from the files
the step itself imports and refuse to run on a mismatch, so a result is never recorded under a
cache key that describes other code. The Vertex variants check in the pipeline step, which runs
the same image as the Vertex Training job it submits. ``with_code_check`` swaps them in at compile time.
"""

import importlib
import json
import os

from tfx.components.trainer import executor as trainer_executor
from tfx.components.transform import executor as transform_executor
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform.pusher import executor as vertex_pusher_executor
from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_trainer_executor
from tfx.extensions.google_cloud_ai_platform.tuner import executor as vertex_tuner_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from pipeline import baseline
from pipeline.fingerprint import code_version

# The Vertex Pusher's custom_config key for the versioned folder it also copies each pushed model to.
SERVING_DIR_KEY = "serving_dir"


class CodeVersionError(RuntimeError):
    """The image's module code is not the code the pipeline was compiled from."""


def check_code(exec_properties: dict, function_key: str) -> None:
    """Raises ``CodeVersionError`` unless the code ``exec_properties[function_key]`` names has its compiled digest."""
    custom_config = exec_properties.get("custom_config") or "{}"
    settings = json.loads(custom_config) if isinstance(custom_config, str) else custom_config
    module = exec_properties[function_key].rsplit(".", 1)[0]
    importlib.import_module(module)  # a module that does not import fails as itself, not as a mismatch
    compiled, here = settings.get("code_version"), code_version(module)
    if compiled != here:
        raise CodeVersionError(
            f"the image's {module} (and what it imports) has fingerprint {here}, but the pipeline was compiled "
            f"from code with fingerprint {compiled}: build and push the image from the checkout you compile, "
            "or compile from the image's code"
        )


class _CodeChecked:
    """Runs the TFX executor it is mixed into only when ``check_code`` passes."""

    FUNCTION_KEY = ""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's name)
        """Checks the image's code, then runs TFX's executor unchanged."""
        check_code(exec_properties, self.FUNCTION_KEY)
        return super().Do(input_dict, output_dict, exec_properties)


class Transform(_CodeChecked, transform_executor.Executor):
    """TFX's Transform executor, on the image's ``preprocessing_fn`` only if it is the compiled code."""

    FUNCTION_KEY = "preprocessing_fn"


class Tuner(_CodeChecked, tuner_executor.Executor):
    """TFX's in-step Tuner executor, after the code check; parallel trials run one after another.

    ``tune_args`` only spreads trials over the machines of a Vertex Training job (TFX's in-step
    Tuner refuses it), so a step that tunes alone runs the same trials in turn: what the preflight
    does with a Tuner that Vertex AI would run.
    """

    FUNCTION_KEY = "tuner_fn"

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's name)
        """Runs the search in this process, without the spread over machines."""
        in_step = {key: value for key, value in exec_properties.items() if key != "tune_args"}
        return super().Do(input_dict, output_dict, in_step)


class Trainer(_CodeChecked, trainer_executor.GenericExecutor):
    """TFX's in-step Trainer executor, after the code check."""

    FUNCTION_KEY = "run_fn"


class VertexTuner(_CodeChecked, vertex_tuner_executor.Executor):
    """TFX's Tuner that searches on Vertex Training, after the code check."""

    FUNCTION_KEY = "tuner_fn"


class VertexTrainer(_CodeChecked, vertex_trainer_executor.GenericExecutor):
    """TFX's Trainer that trains on Vertex Training, after the code check."""

    FUNCTION_KEY = "run_fn"


class VertexPusher(vertex_pusher_executor.Executor):
    """TFX's Pusher to a Vertex AI endpoint that pushes a model once and keeps a copy in the serving folder.

    The copy, ``<serving_dir>/<pushed version>/``, is what ``BaselineFinder`` reads, so a run with an
    endpoint finds its baseline as every other run does; a model already the newest copy is not
    deployed again.
    """

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's name)
        """Deploys (unless already pushed), then copies the pushed model under the serving folder."""
        custom_config = json.loads(exec_properties.get("custom_config") or "{}")
        serving_dir = custom_config[SERVING_DIR_KEY]
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        model = self.GetModelPath(input_dict)
        if self.CheckBlessing(input_dict):
            version = baseline.already_pushed(model, serving_dir)
            if version is not None:
                self._MarkPushed(
                    model_push, pushed_destination=os.path.join(serving_dir, version), pushed_version=version
                )
                return
        super().Do(input_dict, output_dict, exec_properties)
        if model_push.get_int_custom_property("pushed") == 1:
            version = model_push.get_string_custom_property("pushed_version")
            io_utils.copy_dir(model, os.path.join(serving_dir, version))


# TFX's executor -> the checked one that replaces it in a cloud pipeline.
CHECKED = {
    transform_executor.Executor: Transform,
    tuner_executor.Executor: Tuner,
    trainer_executor.GenericExecutor: Trainer,
    vertex_tuner_executor.Executor: VertexTuner,
    vertex_trainer_executor.GenericExecutor: VertexTrainer,
}


def with_code_check(pipeline) -> None:
    """Makes every component of ``pipeline`` that runs module code use its checked executor (in place)."""
    for component in pipeline.components:
        old = getattr(component, "executor_spec", None)
        checked = CHECKED.get(getattr(old, "executor_class", None))
        if checked is None:
            continue
        new = type(old)(checked)
        new.add_extra_flags(old.extra_flags)
        if isinstance(old, executor_spec.BeamExecutorSpec):
            new.add_beam_pipeline_args(old.beam_pipeline_args)
        component.executor_spec = new
