"""The part of TFX's public ``tfx.v1`` API that the DAG and the local runner use, without importing ``tfx.v1``.

``import tfx.v1`` also imports ``tfx.v1.extensions`` and with it the Google Cloud AI Platform
SDK: 2.5 of the 8.5 seconds a local run spends starting, and most of a cached re-run, for code a
local run never calls. The names here are the very objects ``tfx.v1`` exports (the same modules
``tfx/v1/*/__init__.py`` imports them from), grouped the same way, so the DAG reads like TFX's
own examples: ``tfx.components.Trainer``, ``tfx.proto.TrainArgs``. The cloud path
(``cloud/components.py``) imports ``tfx.v1`` itself for its extensions.
"""

from types import SimpleNamespace

from tfx.components import (
    Evaluator,
    ExampleValidator,
    ImportExampleGen,
    Pusher,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.metadata import sqlite_metadata_connection_config
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.example_gen_pb2 import Input, Output, SplitConfig
from tfx.proto.pusher_pb2 import PushDestination
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs
from tfx.proto.transform_pb2 import SplitsConfig
from tfx.types import standard_artifacts
from tfx.types.channel import Channel


def _by_name(*objects) -> SimpleNamespace:
    """A namespace holding each object under its own name, as ``tfx.v1``'s modules export them."""
    return SimpleNamespace(**{o.__name__: o for o in objects})


components = _by_name(
    ImportExampleGen, StatisticsGen, SchemaGen, ImportSchemaGen, ExampleValidator, Transform, Tuner, Trainer,
    Evaluator, Pusher,
)  # fmt: skip
proto = _by_name(Input, Output, SplitConfig, SplitsConfig, TrainArgs, EvalArgs, PushDestination)
dsl = SimpleNamespace(
    **vars(_by_name(Pipeline, Resolver, Channel)),
    experimental=_by_name(LatestArtifactStrategy, LatestBlessedModelStrategy),
)
types = SimpleNamespace(standard_artifacts=standard_artifacts)
orchestration = SimpleNamespace(
    LocalDagRunner=LocalDagRunner,
    metadata=SimpleNamespace(sqlite_metadata_connection_config=sqlite_metadata_connection_config),
)
