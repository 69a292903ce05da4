"""What the pipeline tells each component's module code: its own selection of ``PipelineConfig``'s settings.

A component gets only the settings it reads, under ``PipelineConfig``'s names, as its
``custom_config``: TFX's cache key holds a component's exec properties, so a setting given to a
component that does not use it would re-run that component, and everything after it, for nothing.
Changing ``train_epochs`` re-runs the Trainer, never Transform or the Tuner. The classes below name
the selection (the pipeline fills each field from its config by name, ``pipeline.dag.select``);
the fields under "derived" are not settings but what the DAG computes for the component.
tests/test_config.py checks that every other field is a ``PipelineConfig`` field of the same type.
"""

import dataclasses
from typing import Tuple

# A field whose value the DAG derives (a fingerprint, a folder, a parsed file) rather than a setting.
DERIVED = {"derived": True}


def derived(kind=None):
    """A field the DAG computes for the component; ``kind`` list or dict gives it an empty default."""
    if kind is None:
        return dataclasses.field(metadata=DERIVED)
    return dataclasses.field(default_factory=kind, metadata=DERIVED)


@dataclasses.dataclass(frozen=True)
class ComponentSettings:
    """The (de)serialization every component's settings share.

    ``code_version`` fingerprints the project files the component's module code imports: TFX caches
    on inputs and exec properties, and module code named by import path is neither, so an edit must
    show up here to re-run the step (``pipeline.fingerprint``).
    """

    image_shape: Tuple[int, ...]
    code_version: str = derived()

    def to_custom_config(self) -> dict:
        """Returns the JSON-serializable dict TFX stores as the component's ``custom_config``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: dict):
        """Rebuilds the settings inside a component from its ``custom_config``.

        Other keys are left out: on Vertex AI the same ``custom_config`` also carries the
        Training job spec that TFX's cloud Tuner and Trainer read (cloud/vertex.py).
        """
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in custom_config.items() if key in names}
        values["image_shape"] = tuple(values["image_shape"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TransformSettings(ComponentSettings):
    """Transform's ``preprocessing_fn``: the shape raw pixel bytes are reshaped to."""


@dataclasses.dataclass(frozen=True)
class TuningSettings(ComponentSettings):
    """The Tuner's ``tuner_fn``: the search and its budget."""

    num_classes: int
    batch_size: int
    seed: int
    input_cache_mb: int
    tuner_algorithm: str
    tuner_max_trials: int
    tuner_epochs: int
    tuner_examples: int
    # Derived: the search-space file's params replacing default ranges, and the trials' TensorBoard root.
    search_space: list = derived(list)
    tensorboard_dir: str = derived(str)


@dataclasses.dataclass(frozen=True)
class TrainingSettings(ComponentSettings):
    """The Trainer's ``run_fn``: the training budget, the workers and where it keeps resumable backups."""

    num_classes: int
    batch_size: int
    seed: int
    input_cache_mb: int
    train_epochs: int
    early_stopping_patience: int
    trainer_workers: int
    class_names: Tuple[str, ...]
    # Derived: fixed values (tuning mode "file"), whether a resolved artifact is required (mode "reuse"),
    # and the root of the resumable backups.
    fixed_hyperparameters: dict = derived(dict)
    require_hyperparameters: bool = dataclasses.field(default=False, metadata=DERIVED)
    checkpoint_dir: str = derived(str)


def select(cls, config, **derived_values):
    """``cls`` filled from ``config`` (a ``PipelineConfig``) by field name, and the ``derived_values`` of the DAG.

    Lists in the config's tuples stay tuples; a derived field left out keeps its empty default.
    """
    names = [field.name for field in dataclasses.fields(cls) if not field.metadata.get("derived")]
    return cls(**{name: getattr(config, name) for name in names}, **derived_values)
