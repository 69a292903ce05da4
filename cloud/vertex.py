"""The Vertex AI side of the ``ComponentFactory``: which Tuner, Trainer and Pusher a cloud run uses.

Kept apart from cloud/cloud_config.py, which imports no TFX, so that submitting stays quick.
"""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec
from tfx.extensions.google_cloud_ai_platform.tuner.executor import TUNING_ARGS_KEY

from cloud.cloud_config import CloudConfig, training_job
from cloud.executors import SERVING_DIR_KEY, VertexPusher
from pipeline.factory import ComponentFactory

CLOUD_AI = tfx.extensions.google_cloud_ai_platform


class CloudComponents(ComponentFactory):
    """Runtime parameters, Vertex Training for Tuner and Trainer, a Vertex endpoint for the Pusher.

    Each falls back to the stock component when the cloud config turns it off (``vertex_training:
    false``, no ``endpoint``); that component then runs inside its own pipeline step.
    """

    def __init__(self, cloud: CloudConfig):
        self.cloud = cloud

    def parameter(self, name: str, value):
        """A runtime parameter ``name`` whose default is ``value``, settable per run at submission."""
        return tfx.dsl.experimental.RuntimeParameter(name=name, ptype=type(value), default=value)

    def vertex_keys(self, job_key: str, job: dict) -> dict:
        """The ``custom_config`` entries that send a cloud Tuner's or Trainer's work to Vertex Training."""
        return {CLOUD_AI.ENABLE_VERTEX_KEY: True, CLOUD_AI.VERTEX_REGION_KEY: self.cloud.region, job_key: job}

    def tuner(self, custom_config: dict, **kwargs):
        """TFX's cloud Tuner: ``tuner_parallel_trials`` machines search at once, sharing one oracle."""
        if not self.cloud.vertex_training:
            return super().tuner(custom_config=custom_config, **kwargs)
        trials = self.cloud.tuner_parallel_trials
        job = training_job(self.cloud, self.cloud.tuner, replicas=trials)
        return CLOUD_AI.Tuner(
            tune_args=tfx.proto.TuneArgs(num_parallel_trials=trials),
            custom_config={**custom_config, **self.vertex_keys(TUNING_ARGS_KEY, job)},
            **kwargs,
        )

    def trainer(self, custom_config: dict, **kwargs):
        """TFX's cloud Trainer: ``run_fn`` runs as a Vertex CustomJob, on ``trainer_replicas`` machines in step."""
        if not self.cloud.vertex_training:
            return super().trainer(custom_config=custom_config, **kwargs)
        job = training_job(self.cloud, self.cloud.trainer, self.cloud.trainer_replicas, self.cloud.trainer_worker_pool)
        return CLOUD_AI.Trainer(
            custom_config={**custom_config, **self.vertex_keys(CLOUD_AI.TRAINING_ARGS_KEY, job)}, **kwargs
        )

    def pusher(self, model, model_blessing, serving_dir: str):
        """TFX's Vertex Pusher to ``endpoint`` (created when missing), keeping a copy in ``serving_dir``.

        Without an endpoint, the local factory's Pusher to ``serving_dir`` on gs://. With one, the copy
        is what ``BaselineFinder`` reads, so the baseline is found the same way (cloud.executors.VertexPusher).
        """
        if not self.cloud.endpoint:
            return super().pusher(model, model_blessing, serving_dir)
        serving_args = {
            "project": self.cloud.project,
            "endpoint_name": self.cloud.endpoint,
            "machine_type": self.cloud.serving_machine_type,
        }
        custom_config = {
            **self.vertex_keys(CLOUD_AI.SERVING_ARGS_KEY, serving_args),
            CLOUD_AI.VERTEX_CONTAINER_IMAGE_URI_KEY: self.cloud.serving_image,
            SERVING_DIR_KEY: serving_dir,
        }
        pusher = CLOUD_AI.Pusher(model=model, model_blessing=model_blessing, custom_config=custom_config)
        pusher.executor_spec = executor_spec.ExecutorClassSpec(VertexPusher)
        return pusher
