"""The components whose class or settings depend on where the pipeline runs.

``create_pipeline`` builds these through a ``ComponentFactory``: the one here runs everything
in the orchestrator's own process (what LocalDagRunner needs); ``cloud.vertex.CloudComponents``
swaps in Vertex Training, a Vertex endpoint and runtime parameters. The DAG is the same.
"""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from pipeline.baseline import PushOnce


class ComponentFactory:
    """Builds the platform-dependent components with TFX's stock, in-process classes."""

    def parameter(self, name: str, value):
        """The value a component gets for ``name``: fixed here; a platform may make it settable per run."""
        return value

    def tuner(self, **kwargs) -> tfx.components.Tuner:
        """The Tuner, given the stock Tuner's arguments."""
        return tfx.components.Tuner(**kwargs)

    def trainer(self, **kwargs) -> tfx.components.Trainer:
        """The Trainer, given the stock Trainer's arguments."""
        return tfx.components.Trainer(**kwargs)

    def pusher(self, model: tfx.dsl.Channel, model_blessing: tfx.dsl.Channel, serving_dir: str):
        """The Pusher: copies a blessed model into a new version folder under ``serving_dir``, once."""
        pusher = tfx.components.Pusher(
            model=model,
            model_blessing=model_blessing,
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)
            ),
        )
        pusher.executor_spec = executor_spec.ExecutorClassSpec(PushOnce)
        return pusher
