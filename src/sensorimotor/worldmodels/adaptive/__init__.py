"""The adaptive world model: an MAE encoder/decoder plus, per hierarchy level, an action-conditioned
causal predictor of the next latent (FiLM, ensemble heads); it acts once it sees well enough and
explores where its heads disagree. ``sensorimotor run model=adaptive`` (see docs/worldmodels.md)."""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "ActionNormalizer": "actions",
    "attention_metrics": "attention",
    "AdaptiveModelConfig": "config",
    "AdaptiveWorldModel": "model",
    "AdaptiveStepInfo": "model",
    "ActionPredictor": "networks",
    "token_layout": "networks",
    "evaluate_adaptive": "quality",
    "action_tests": "quality",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
