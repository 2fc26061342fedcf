"""The objective contract of a sweep: "train this config for this budget from these weights at this
learning rate; return the best validation loss and a checkpoint".

An objective is named by an import reference ``"package.module:factory"``; the factory takes the
sweep's spec (JSON data: the config, the sessions, the starting checkpoint, ...) and returns a
callable ``TrialSpec -> TrialOutcome``. Naming it (instead of passing a Python object) lets worker
processes on this or other machines build the same objective from the spec alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorimotor.core.errors import ConfigError


@dataclass(frozen=True)
class TrialSpec:
    """One trial: the learning rate, the seed, the budget and where to write its checkpoint."""

    lr: float
    seed: int
    steps: int
    seconds: float | None
    phase: str  # "A" or "B"
    number: int  # the Optuna trial number (unique in the study)
    workdir: Path  # a fresh folder for this trial's checkpoint


@dataclass
class TrialOutcome:
    """What a trial returns: its best validation loss (NaN/Inf = diverged), the checkpoint of
    its best weights (or ``None``), the train steps it ran, its validation curve."""

    best_val_loss: float
    checkpoint: str | None = None
    steps: int = 0
    curve: list[float] = field(default_factory=list)


Objective = Callable[[TrialSpec], TrialOutcome]


def load_objective(reference: str, spec: Mapping[str, Any]) -> Objective:
    """Build the objective ``"module:factory"`` from ``spec``; only ``sensorimotor`` modules."""
    module, sep, attr = reference.partition(":")
    if not sep or not module.startswith("sensorimotor."):
        raise ConfigError(
            f"objective {reference!r}: expected 'sensorimotor.<module>:<factory>' "
            "(objectives are looked up only in the sensorimotor package)"
        )
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"objective {reference!r} not found: {e}") from None
    return factory(dict(spec))
