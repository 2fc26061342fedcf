"""The ``run`` config with any world model: ``model=canvas`` (default) or ``model=adaptive``.

The adaptive model shares the run schema (:class:`~sensorimotor.train.canvas.CanvasRunConfig`):
robot, selector, trainer (optimiser, history, batch, logging and checkpoint intervals) and the
held-out validation session; its own knobs live under ``model``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sensorimotor.core.config import load_config
from sensorimotor.core.rng import derive_seed
from sensorimotor.robots.config import resolve_seeds
from sensorimotor.train.canvas.config import CanvasRunConfig
from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
from sensorimotor.worldmodels.config import WorldModelConfig


def is_adaptive(model: WorldModelConfig) -> bool:
    """Whether ``model`` is the adaptive world model's config."""
    return isinstance(model, AdaptiveModelConfig)


def load_any_run_config(overrides: Sequence[str]) -> CanvasRunConfig:
    """``configs/robots/run.yaml`` + overrides with seeds resolved, whatever ``model.type``."""
    config = load_config("robots", "run", overrides, CanvasRunConfig)
    resolve_seeds(config.seed, config.robot, config.selector)
    if config.validation.seed is None:
        config.validation.seed = derive_seed(config.seed, "validation")
    return config
