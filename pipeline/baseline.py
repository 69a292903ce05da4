"""The Evaluator's baseline: the model the Pusher pushed last, found in its versioned folder by an ordinary component.

One mechanism on every orchestrator, local, Vertex AI and Kubeflow Pipelines 2 (whose backend runs no
resolver tasks): ``BaselineFinder`` lists the Pusher's destination, ``<serving_dir>/<version>/`` on
local disk or ``gs://``, takes the newest complete version (by construction the latest blessed
model, since only a blessed model is pushed) and copies it into its ``Model`` output in TFX's layout
(``Format-Serving/``), where the Evaluator reads a baseline. With nothing pushed yet its output holds
no model; ``BaselineEvaluator`` then drops it and TFMA evaluates without a baseline (TFX ignores the
change threshold then: its "rubber stamp"). The finder is never served from the cache
(``pipeline.dag.NEVER_CACHED``, which each runner applies), so a run always compares against what
is served now. ``PushOnce`` is the Pusher's executor: a model already the newest version is recorded
there, not copied again.
"""

import hashlib
import os
from typing import Optional

from tfx.components.evaluator import executor as evaluator_executor
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils, path_utils, proto_utils

FINDER_ID = "BaselineFinder"
SAVED_MODEL = "saved_model.pb"
# The finder's output: 1 when it holds the pushed model, and which version it was.
FOUND, PUSHED_VERSION = "found", "pushed_version"


def newest_version(serving_dir: str) -> Optional[str]:
    """The newest complete version folder under ``serving_dir`` (local or gs://), or None when none is."""
    if not fileio.isdir(serving_dir):
        return None
    versions = [name.rstrip("/") for name in fileio.listdir(serving_dir)]
    complete = [v for v in versions if v.isascii() and v.isdigit() and fileio.exists(_saved_model(serving_dir, v))]
    return max(complete, key=int, default=None)


def _saved_model(serving_dir: str, version: str) -> str:
    return os.path.join(serving_dir, version, SAVED_MODEL)


def model_digest(model_dir: str) -> str:
    """A digest of every file's relative path and bytes under ``model_dir``: equal for a model and its pushed copy."""
    digest = hashlib.sha256()
    for folder, _, files in sorted(fileio.walk(model_dir)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, model_dir).encode() + b"\0")
            with fileio.open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


@component
def BaselineFinder(serving_dir: Parameter[str], baseline: OutputArtifact[standard_artifacts.Model]) -> None:
    """Copies the newest version the Pusher wrote under ``serving_dir`` into ``baseline``; empty when there is none."""
    version = newest_version(serving_dir)
    baseline.set_int_custom_property(FOUND, 0 if version is None else 1)
    if version is not None:
        io_utils.copy_dir(os.path.join(serving_dir, version), path_utils.serving_model_dir(baseline.uri))
        baseline.set_string_custom_property(PUSHED_VERSION, version)


def holds_model(model: standard_artifacts.Model) -> bool:
    """Whether a Model artifact holds a SavedModel where the Evaluator looks (the finder's may be empty)."""
    return fileio.exists(os.path.join(path_utils.serving_model_path(model.uri), SAVED_MODEL))


class BaselineEvaluator(evaluator_executor.Executor):
    """TFX's Evaluator, given the finder's baseline only when it holds a model (nothing pushed yet: no baseline)."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's name)
        """Drops an empty baseline, then runs TFX's Evaluator unchanged."""
        key = standard_component_specs.BASELINE_MODEL_KEY
        baselines = [model for model in input_dict.get(key, []) if holds_model(model)]
        return super().Do({**input_dict, key: baselines}, output_dict, exec_properties)


def already_pushed(model_dir: str, serving_dir: str) -> Optional[str]:
    """The newest version under ``serving_dir`` when it is a copy of ``model_dir``, else None."""
    version = newest_version(serving_dir)
    if version is None or model_digest(os.path.join(serving_dir, version)) != model_digest(model_dir):
        return None
    return version


class PushOnce(pusher_executor.Executor):
    """TFX's Pusher to a versioned folder, except that a model already the newest version is not copied again.

    A re-run re-evaluates the same model against its own pushed copy (the finder is never cached)
    and blesses it again; the PushedModel then names the version that already serves it.
    """

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802  (TFX's name)
        """Records the existing version for a model already pushed, else pushes as TFX does."""
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        destination = push_destination(exec_properties)
        if destination and self.CheckBlessing(input_dict):
            version = already_pushed(self.GetModelPath(input_dict), destination)
            if version is not None:
                self._MarkPushed(
                    model_push, pushed_destination=os.path.join(destination, version), pushed_version=version
                )
                return
        super().Do(input_dict, output_dict, exec_properties)


def push_destination(exec_properties: dict) -> str:
    """The Pusher's filesystem base directory, from its ``push_destination`` exec property ("" for another kind)."""
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
    return destination.filesystem.base_directory if destination.HasField("filesystem") else ""
