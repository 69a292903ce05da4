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
    # Fingerprint of models/*.py: TFX caches on inputs and exec properties, and module code
    # named by import path is neither, so a code change must show up here to rerun the step.
    code_version: str = ""

    def to_custom_config(self) -> dict:
        """Returns the JSON-serializable dict TFX stores as the component's ``custom_config``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: dict) -> "TrainingSettings":
        """Rebuilds the settings inside a component from its ``custom_config``."""
        values = dict(custom_config)
        values["image_shape"] = tuple(values["image_shape"])
        return cls(**values)
