"""Which training process this is, from ``TF_CONFIG`` (what Vertex AI and the local launcher set).

Vertex AI runs the same entry point in every replica of a multi-replica job and describes the
cluster in ``TF_CONFIG``: ``{"cluster": {"chief": [...], "worker": [...]}, "task": {"type": ...,
"index": ...}}`` (worker pool 0 is the chief). The local launcher (multiworker/launcher.py) sets the
same variable with workers only, worker 0 acting as chief, as TensorFlow's own convention has it.
"""

import dataclasses
import json
import os
from typing import Mapping, Optional

TF_CONFIG = "TF_CONFIG"
TRAINING_TASKS = ("chief", "worker")  # parameter servers and evaluators do not train here


class ClusterError(ValueError):
    """``TF_CONFIG`` does not describe a cluster this Trainer can train in."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The training processes: how many, and this one's position (0 is the chief)."""

    workers: int = 1
    index: int = 0

    @property
    def is_chief(self) -> bool:
        """Whether this process writes what is written once: the model, TensorBoard, hyperparameters.json."""
        return self.index == 0

    @property
    def distributed(self) -> bool:
        """Whether several processes train this model together."""
        return self.workers > 1


def from_environment(environ: Optional[Mapping[str, str]] = None) -> Cluster:
    """The cluster ``TF_CONFIG`` describes; one worker when it is unset."""
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG, "")
    if not text:
        return Cluster()
    try:
        config = json.loads(text)
        cluster, task = config.get("cluster", {}), config.get("task", {})
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
        kind, index = task["type"], int(task["index"])
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ClusterError(f"{TF_CONFIG} is not a cluster description ({err}): {text[:200]}") from None
    if kind not in TRAINING_TASKS:
        raise ClusterError(f"{TF_CONFIG}: task type {kind!r} does not train; expected one of {TRAINING_TASKS}")
    position = index if kind == "chief" else len(chiefs) + index
    return Cluster(workers=len(chiefs) + len(workers), index=position)
