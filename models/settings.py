"""What the pipeline tells each component's module code, passed as that component's ``custom_config``.

Each component gets only the settings it reads: TFX's cache key holds a component's exec
properties, so a setting in a component that does not use it would re-run that component (and
everything after it) for nothing. Changing epochs re-runs the Trainer, never Transform.
"""

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class ComponentSettings:
    """The (de)serialization every component's settings share; ``code_version`` is set by the pipeline.

    ``code_version`` fingerprints the project files the component's module code imports: TFX caches
    on inputs and exec properties, and module code named by import path is neither, so an edit
    must show up here to re-run the step (``pipeline.fingerprint``).
    """

    image_shape: Tuple[int, int, int]

    def to_custom_config(self) -> dict:
        """Returns the JSON-serializable dict TFX stores as the component's ``custom_config``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: dict):
        """Rebuilds the settings inside a component from its ``custom_config``.

        Other keys are left out: on Vertex AI the same ``custom_config`` also carries the
        Training job spec that TFX's cloud Tuner and Trainer read (cloud/components.py).
        """
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in custom_config.items() if key in names}
        values["image_shape"] = tuple(values["image_shape"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TransformSettings(ComponentSettings):
    """Transform's ``preprocessing_fn``: the shape raw pixel bytes are reshaped to."""

    code_version: str = ""


@dataclasses.dataclass(frozen=True)
class TuningSettings(ComponentSettings):
    """The Tuner's ``tuner_fn``: the search and its budget."""

    num_classes: int = 10
    batch_size: int = 64
    seed: int = 42
    max_trials: int = 3
    tuner_epochs: int = 1
    # Training examples each trial sees (0: all of them).
    tuner_examples: int = 2048
    tuner_algorithm: str = "random"
    # The in-memory cache's budget for one split's examples (models/inputs.py).
    cache_mb: int = 512
    # AI Platform-style params replacing ranges of the search space (models.tuning).
    search_space: list = dataclasses.field(default_factory=list)
    # Root of the per-trial TensorBoard logs.
    tensorboard_dir: str = ""
    code_version: str = ""


@dataclasses.dataclass(frozen=True)
class TrainingSettings(ComponentSettings):
    """The Trainer's ``run_fn``: the training budget and where it keeps resumable backups."""

    num_classes: int = 10
    batch_size: int = 64
    seed: int = 42
    epochs: int = 6
    early_stopping_patience: int = 4
    # The in-memory cache's budget for one split's examples (models/inputs.py).
    cache_mb: int = 512
    # Values the Trainer uses when no hyperparameters artifact is wired in (tuning mode "file").
    fixed_hyperparameters: dict = dataclasses.field(default_factory=dict)
    # Tuning mode "reuse": a missing resolved artifact is an error, not a silent fallback.
    require_hyperparameters: bool = False
    # Root of the Trainer's resumable backups (Keras BackupAndRestore, or each worker's checkpoint).
    checkpoint_dir: str = ""
    # Training processes to run on this machine (--trainer-workers); on Vertex AI, TF_CONFIG says.
    workers: int = 1
    # The classes' names (index = label), exported with the model for its clients.
    class_names: list = dataclasses.field(default_factory=list)
    code_version: str = ""
