"""Resolves the Evaluator's baseline: the latest blessed model other than the candidate.

TFX's LatestBlessedModelStrategy hands a re-run its own cached model as the baseline: the
Evaluator then compares the model with itself, re-executes because its inputs changed, and
the Pusher pushes the same model again. Leaving the candidate out keeps a re-run on unchanged
inputs fully cached, and a new model is still held against the one serving before it.
"""

from typing import Dict, List, Optional

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.input_resolution.strategies import latest_blessed_model_strategy

MODEL = "model"
MODEL_BLESSING = "model_blessing"
CANDIDATE = "candidate"
RESOLVER_ID = "latest_blessed_model_resolver"


class LatestBlessedOtherModelStrategy(latest_blessed_model_strategy.LatestBlessedModelStrategy):
    """Latest blessed Model whose id differs from the ``candidate`` channel's models."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]) -> Optional[dict]:
        """Returns {model, model_blessing, candidate}; model is empty when there is no baseline."""
        candidates = list(input_dict.get(CANDIDATE, []))
        candidate_ids = {artifact.id for artifact in candidates}
        others = [model for model in input_dict.get(MODEL, []) if model.id not in candidate_ids]
        blessings = list(input_dict.get(MODEL_BLESSING, []))
        if others and blessings:
            resolved = self._resolve({MODEL: others, MODEL_BLESSING: blessings}, MODEL, MODEL_BLESSING)
        else:
            resolved = {MODEL: [], MODEL_BLESSING: []}
        resolved[CANDIDATE] = candidates
        return resolved


def resolver(strategy: str, candidate: types.BaseChannel) -> tfx.dsl.Resolver:
    """The Resolver whose ``model`` output is the Evaluator's baseline, for a ``ComponentFactory.baseline_strategy``.

    "latest_blessed_other" also reads the ``candidate`` channel to leave it out. "latest_blessed"
    is TFX's stock strategy with only the model and blessing channels: the Kubeflow V2 compiler
    turns exactly that shape into its two query tasks and rejects any other strategy class.
    """
    channels = {
        MODEL: tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        MODEL_BLESSING: tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    }
    if strategy == "latest_blessed":
        strategy_class = tfx.dsl.experimental.LatestBlessedModelStrategy
    else:
        strategy_class = LatestBlessedOtherModelStrategy
        channels[CANDIDATE] = candidate
    return tfx.dsl.Resolver(strategy_class=strategy_class, **channels).with_id(RESOLVER_ID)
