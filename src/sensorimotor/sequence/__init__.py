"""Behaviour sequence models: S5/Mamba/GRU/MLP models, predictor, rollout, AR-HMM syllables, the
intention VAE and clip generation.

Public names are re-exported lazily, e.g. ``from sensorimotor.sequence import SequenceModel``.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "SegmentConfig": "arhmm",
    "fit_arhmm": "arhmm",
    "segment": "arhmm",
    "generate_clips": "clipgen",
    "make_clips": "clipgen",
    "SequenceConfig": "config",
    "TrainerConfig": "config",
    "IntentionConfig": "intention",
    "IntentionVAE": "intention",
    "train_intention": "intention",
    "ModelConfig": "models",
    "SequenceModel": "models",
    "Predictor": "predictor",
    "load_run": "predictor",
    "RolloutResult": "rollout",
    "rollout": "rollout",
    "make_sequence_optimizer": "training",
    "teacher_forced": "training",
    "train_step": "training",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
