"""The learner layer shared by every trainable model: spec, train state, learner base, loader,
configs and the one optimiser builder. Entry points are re-exported lazily:

- :class:`Spec`, :func:`ensure_batched`; :class:`TrainState`, :func:`polyak`, :func:`global_norm`
- :class:`Learner`, :func:`load_learner`, :data:`LEARNER_KINDS`
- :func:`make_optimizer`, :func:`warmup_cosine_schedule`
- :func:`make_config`, :func:`build_config`, :func:`as_tuple`
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "Spec": "spec",
    "ensure_batched": "spec",
    "TrainState": "state",
    "global_norm": "state",
    "polyak": "state",
    "Learner": "learner",
    "FORMAT_VERSION": "loader",
    "LEARNER_KINDS": "loader",
    "load_learner": "loader",
    "read_learner_metadata": "loader",
    "make_optimizer": "optim",
    "warmup_cosine_schedule": "optim",
    "as_tuple": "config",
    "build_config": "config",
    "make_config": "config",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
