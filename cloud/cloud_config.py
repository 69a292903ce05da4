"""Where and how the pipeline runs on Google Cloud, from one YAML (or JSON) file.

``load(path)`` reads and validates a ``CloudConfig`` (the path defaults to
``$PIPELINE_CLOUD_CONFIG``; ``cloud.example.yaml`` documents every key). ``pipeline_config``
turns it into the same ``PipelineConfig`` a local run uses, with gs:// paths and Dataflow Beam
args; ``cloud.vertex.CloudComponents`` picks the Vertex
Tuner, Trainer and Pusher from it. This module imports neither TFX nor TensorFlow, so
``cloud.submit`` starts quickly, and nothing here reads credentials.
"""

import dataclasses
import os
import re
from typing import Any, Mapping

from pipeline import config as config_lib
from pipeline import facts

ENV_VAR = "PIPELINE_CLOUD_CONFIG"
# Where the Dockerfile puts the project inside the pipeline image; local paths into the project
# (the curated schema) are rewritten to it, since components run in that image.
IMAGE_PROJECT_ROOT = "/pipeline"
# The newest TensorFlow prediction image google-cloud-aiplatform 1.165 lists.
DEFAULT_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
# Set from the cloud config's own keys, never from its `pipeline:` section.
CLOUD_OWNED_FIELDS = (
    "data_root",
    "pipeline_root",
    "serving_dir",
    "metadata_path",
    "log_dir",
    "output_root",
    "beam_args",
    "trainer_workers",
)
# The shapes Google Cloud gives these names (its documentation's rules for each), checked before anything leaves.
BUCKET_PATH = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?")
PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
MACHINE_TYPE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)+")
ACCELERATOR_COUNTS = (0, 1, 2, 4, 8, 16)
# Upper bounds of the counts: Dataflow's and Vertex Training's per-job quotas are of this order.
COUNT_BOUNDS = {"dataflow_max_workers": 1000, "tuner_parallel_trials": 100, "trainer_replicas": 100}
# What KFP accepts as a pipeline name (tfx.orchestration.kubeflow.v2.pipeline_builder).
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


class CloudConfigError(config_lib.ConfigError):
    """The cloud configuration is missing a setting or has a wrong one."""


def _check_types(instance) -> None:
    """Rejects a value whose type is not its field's (YAML reads `1` as an int and `no` as False)."""
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if field.type in (str, int, bool) and type(value) is not field.type:
            raise CloudConfigError(f"`{field.name}` must be of type {field.type.__name__}, got {value!r}")
        if dataclasses.is_dataclass(field.type) and not isinstance(value, field.type):
            raise CloudConfigError(f"`{field.name}` must be a mapping with keys from {_names(field.type)}")


def check_gs_path(what: str, value: str) -> None:
    """CloudConfigError unless ``value`` is ``gs://BUCKET[/PATH]`` with a valid bucket name."""
    if not BUCKET_PATH.fullmatch(value):
        raise CloudConfigError(f"{what} must be a gs://BUCKET/PATH path with a bucket name, got {value!r}")


def _names(cls) -> list:
    """The field names of dataclass ``cls``, in order."""
    return [field.name for field in dataclasses.fields(cls)]


@dataclasses.dataclass(frozen=True)
class WorkerPool:
    """A Vertex Training machine: its type and an optional GPU type and count."""

    machine_type: str = "n1-standard-4"
    # A Vertex AcceleratorType such as NVIDIA_TESLA_T4 or NVIDIA_L4; empty means no GPU.
    accelerator_type: str = ""
    accelerator_count: int = 0

    def __post_init__(self):
        _check_types(self)
        if self.machine_type and not MACHINE_TYPE.fullmatch(self.machine_type):
            raise CloudConfigError(
                f"`machine_type` must be a machine type like n1-standard-4, got {self.machine_type!r}"
            )
        if bool(self.accelerator_type) != (self.accelerator_count > 0):
            raise CloudConfigError(
                "a GPU needs both accelerator_type and accelerator_count >= 1, got "
                f"{self.accelerator_type!r} x {self.accelerator_count}"
            )
        if self.accelerator_count not in ACCELERATOR_COUNTS:
            raise CloudConfigError(
                f"`accelerator_count` must be one of {ACCELERATOR_COUNTS}, got {self.accelerator_count}"
            )

    def spec(self, image: str, replicas: int = 1) -> dict:
        """The Vertex ``WorkerPoolSpec`` running ``image`` on ``replicas`` of these machines."""
        machine = {"machine_type": self.machine_type}
        if self.accelerator_count:
            machine.update(accelerator_type=self.accelerator_type, accelerator_count=self.accelerator_count)
        return {"machine_spec": machine, "replica_count": replicas, "container_spec": {"image_uri": image}}


@dataclasses.dataclass(frozen=True)
class CloudConfig:
    """Everything a Vertex AI or Kubeflow run needs beyond the ``PipelineConfig``."""

    project: str
    region: str
    pipeline_root: str
    data_root: str
    image: str
    service_account: str = ""
    # get_config's "preset" and "quick", and any PipelineConfig field but CLOUD_OWNED_FIELDS.
    pipeline: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    dataflow: bool = True
    dataflow_machine_type: str = "n1-standard-4"
    dataflow_max_workers: int = 4
    temp_location: str = ""  # default <pipeline_root>/tmp
    vertex_training: bool = True
    trainer: WorkerPool = WorkerPool()
    # Trainer replicas: the first on `trainer` (the chief, pool 0), the rest on `trainer_worker_pool`
    # (pool 1; empty machine_type: the same machine as the chief). They train in step (TF_CONFIG).
    trainer_replicas: int = 1
    trainer_worker_pool: WorkerPool = WorkerPool(machine_type="")
    tuner: WorkerPool = WorkerPool()
    tuner_parallel_trials: int = 1
    endpoint: str = ""  # a Vertex endpoint's display name; empty pushes to serving_dir instead
    serving_dir: str = ""  # default <pipeline_root>/serving/<pipeline name>
    serving_image: str = DEFAULT_SERVING_IMAGE
    serving_machine_type: str = "n1-standard-2"
    kfp_host: str = ""  # a Kubeflow Pipelines endpoint, for `python -m cloud.submit --target kfp`

    def __post_init__(self):
        _check_types(self)
        if not isinstance(self.pipeline, Mapping):
            raise CloudConfigError("`pipeline` must be a mapping of PipelineConfig fields to values")
        for name in ("project", "region", "pipeline_root", "data_root", "image"):
            if not getattr(self, name).strip():
                raise CloudConfigError(f"`{name}` is required")
        for name in ("pipeline_root", "data_root", "temp_location", "serving_dir"):
            value = getattr(self, name)
            if value:
                check_gs_path(f"`{name}`", value)
        if any(c.isspace() for c in self.image) or "/" not in self.image:
            raise CloudConfigError(f"`image` must be an image URI like gcr.io/PROJECT/NAME:TAG, got {self.image!r}")
        if not PROJECT.fullmatch(self.project) or not REGION.fullmatch(self.region):
            raise CloudConfigError(
                f"`project` and `region` must be a project id and a region, got {self.project!r}, {self.region!r}"
            )
        for name, high in COUNT_BOUNDS.items():
            if not 1 <= getattr(self, name) <= high:
                raise CloudConfigError(f"`{name}` must lie in [1, {high}], got {getattr(self, name)}")
        for name in ("dataflow_machine_type", "serving_machine_type"):
            if not MACHINE_TYPE.fullmatch(getattr(self, name)):
                raise CloudConfigError(
                    f"`{name}` must be a machine type like n1-standard-4, got {getattr(self, name)!r}"
                )

    def gs_path(self, name: str, *default_parts: str) -> str:
        """The path set for field ``name``, or else ``pipeline_root``/``default_parts``."""
        return getattr(self, name) or "/".join([self.pipeline_root.rstrip("/"), *default_parts])


def _build(cls, values: Any, section: str):
    """``cls(**values)`` for a mapping read from the file, naming unknown keys and the section."""
    where = f"{section}: " if section else ""
    if not isinstance(values, Mapping):
        raise CloudConfigError(f"{where}expected a mapping of keys to values, got {values!r}")
    unknown = set(values) - set(_names(cls))
    if unknown:
        raise CloudConfigError(f"{where}unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(_names(cls))}")
    for field in dataclasses.fields(cls):
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if required and field.name not in values:
            raise CloudConfigError(f"{where}`{field.name}` is required")
    # Nested sections (the worker pools) are built the same way, named by their key.
    types = {field.name: field.type for field in dataclasses.fields(cls)}
    values = {
        key: _build(types[key], value, key) if dataclasses.is_dataclass(types[key]) else value
        for key, value in values.items()
    }
    try:
        return cls(**values)
    except CloudConfigError as err:
        raise CloudConfigError(f"{where}{err}") from err


def load(path: str | None = None) -> CloudConfig:
    """Reads the cloud config at ``path`` (default ``$PIPELINE_CLOUD_CONFIG``) and validates it."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise CloudConfigError(f"no cloud config: pass --cloud-config or set {ENV_VAR} (see cloud.example.yaml)")
    values = facts.read_document(path)
    try:
        return _build(CloudConfig, values, "")
    except CloudConfigError as err:
        raise CloudConfigError(f"{path}: {err}") from err


def dataflow_args(cloud: CloudConfig) -> tuple:
    """Beam args that run every Beam-powered component on Dataflow, with the pipeline image as its workers."""
    args = [
        "--runner=DataflowRunner",
        f"--project={cloud.project}",
        f"--region={cloud.region}",
        f"--temp_location={cloud.gs_path('temp_location', 'tmp')}",
        f"--machine_type={cloud.dataflow_machine_type}",
        f"--max_num_workers={cloud.dataflow_max_workers}",
        # Custom worker images need Runner v2; the image holds TFX's libraries and this package.
        "--experiments=use_runner_v2",
        f"--sdk_container_image={cloud.image}",
    ]
    if cloud.service_account:
        args.append(f"--service_account_email={cloud.service_account}")
    return tuple(args)


def image_path(path: str) -> str:
    """``path`` as the pipeline image sees it: a file in the project moves under IMAGE_PROJECT_ROOT."""
    if path.startswith("gs://"):
        return path
    relative = os.path.relpath(os.path.abspath(path), config_lib.PROJECT_ROOT)
    if relative.split(os.sep)[0] == os.pardir:
        raise CloudConfigError(f"{path} is neither inside the project (copied into the image) nor on gs://")
    return "/".join([IMAGE_PROJECT_ROOT, *relative.split(os.sep)])


def _pipeline_settings(cloud: CloudConfig) -> dict:
    """The ``pipeline:`` section, each value coerced as the command line's would be (``config.coerce``)."""
    settings = {}
    for key, value in cloud.pipeline.items():
        if key in CLOUD_OWNED_FIELDS:
            raise CloudConfigError(f"pipeline.{key} is set by the cloud config itself, not its `pipeline:` section")
        try:
            settings[key] = config_lib.coerce(key, value)
        except config_lib.ConfigError as err:
            raise CloudConfigError(f"pipeline.{err}") from err
    return settings


def pipeline_config(cloud: CloudConfig) -> config_lib.PipelineConfig:
    """The ``PipelineConfig`` of a cloud run: the ``pipeline:`` settings with the cloud's paths and Beam args."""
    settings = _pipeline_settings(cloud)
    preset, quick = settings.pop("preset", "digits"), settings.pop("quick", False)
    config = config_lib.get_config(
        preset, quick=quick, **settings, data_root=cloud.data_root, pipeline_root=cloud.pipeline_root
    )
    # The schema is read here, from this checkout, before its path moves into the image.
    config = facts.complete(config)
    if not PIPELINE_NAME.fullmatch(config.pipeline_name):
        raise CloudConfigError(f"pipeline_name {config.pipeline_name!r} must match {PIPELINE_NAME.pattern}")
    return dataclasses.replace(
        config,
        serving_dir=cloud.gs_path("serving_dir", "serving", config.pipeline_name),
        metadata_path="",  # Vertex AI and Kubeflow keep ML Metadata themselves
        log_dir="",
        schema_path=image_path(config.schema_path) if config.schema_path else "",
        beam_args=dataflow_args(cloud) if cloud.dataflow else config.beam_args,
    )


def training_job(cloud: CloudConfig, pool: WorkerPool, replicas: int = 1, workers: WorkerPool | None = None) -> dict:
    """The Vertex CustomJob that TFX's cloud Tuner or Trainer submits: ``replicas`` machines.

    Worker pool 0 holds exactly one replica on ``pool``, as Vertex AI requires (the chief); with
    more replicas, pool 1 holds the rest, on ``workers`` when it names a machine, else on ``pool``.
    """
    pools = [pool.spec(cloud.image)]
    if replicas > 1:
        rest = workers if workers is not None and workers.machine_type else pool
        pools.append(rest.spec(cloud.image, replicas - 1))
    job_spec = {"worker_pool_specs": pools}
    if cloud.service_account:
        job_spec["service_account"] = cloud.service_account
    return {"project": cloud.project, "job_spec": job_spec}
