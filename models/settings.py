"""What the pipeline tells Transform, Tuner and Trainer, passed as their ``custom_config``."""

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """The contract between ``pipeline/`` (which fills it) and the module code (which reads it)."""

    image_shape: Tuple[int, int, int]
    num_classes: int
    batch_size: int = 64
    epochs: int = 20
    early_stopping_patience: int = 4
    max_trials: int = 3
    tuner_epochs: int = 2
    seed: int = 42
    tuner_algorithm: str = "random"
    # AI Platform-style params replacing ranges of the search space (models.tuning).
    search_space: list = dataclasses.field(default_factory=list)
    # Values the Trainer uses when no hyperparameters artifact is wired in (tuning mode "file").
    fixed_hyperparameters: dict = dataclasses.field(default_factory=dict)
    # Tuning mode "reuse": a missing resolved artifact is an error, not a silent fallback.
    require_hyperparameters: bool = False
    # Roots for the Tuner's per-trial TensorBoard logs and the Trainer's resumable backups.
    tensorboard_dir: str = ""
    checkpoint_dir: str = ""
    # Fingerprint of models/*.py: TFX caches on inputs and exec properties, and module code
    # named by import path is neither, so a code change must show up here to rerun the step.
    code_version: str = ""

    def to_custom_config(self) -> dict:
        """Returns the JSON-serializable dict TFX stores as the component's ``custom_config``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: dict) -> "TrainingSettings":
        """Rebuilds the settings inside a component from its ``custom_config``.

        Other keys are left out: on Vertex AI the same ``custom_config`` also carries the
        Training job spec that TFX's cloud Tuner and Trainer read (cloud/config.py).
        """
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in custom_config.items() if key in names}
        values["image_shape"] = tuple(values["image_shape"])
        return cls(**values)
