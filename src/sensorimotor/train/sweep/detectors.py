"""Detectors watched by a training loop: a plateau (time for an LR sweep) and validation loss
diverging from training loss (time to stop)."""

from __future__ import annotations

import math

from sensorimotor.train.sweep.config import DivergenceConfig, PlateauConfig


class PlateauDetector:
    """Fires when ``patience`` updates passed without the loss improving on its best by more than
    ``threshold`` (relative); after firing it ignores ``cooldown`` updates before counting again;
    fires at most ``max_per_stage`` times."""

    def __init__(self, config: PlateauConfig) -> None:
        self.config = config
        self.best = math.inf
        self.since_best = 0
        self.cooldown_left = 0
        self.fired = 0

    def update(self, loss: float) -> bool:
        """Record one update's loss; true when a sweep should run now."""
        c = self.config
        if not c.enabled:
            return False
        if loss < self.best * (1.0 - c.threshold):
            self.best = loss
            self.since_best = 0
        else:
            self.best = min(self.best, loss)
            self.since_best += 1
        if self.cooldown_left > 0:  # right after a sweep: let training settle before counting
            self.cooldown_left -= 1
            self.since_best = 0
            return False
        if self.since_best >= c.patience and self.fired < c.max_per_stage:
            self.fired += 1
            self.since_best = 0
            self.cooldown_left = c.cooldown
            return True
        return False

    def accepts(self, current: float, candidate: float) -> bool:
        """Whether a sweep winner's loss ``candidate`` beats ``current`` by ``min_improvement``."""
        return math.isfinite(candidate) and candidate < current * (
            1.0 - self.config.min_improvement
        )

    def state(self) -> dict[str, float]:
        """The detector's counters (saved with checkpoints)."""
        return {
            "best": self.best,
            "since_best": self.since_best,
            "cooldown_left": self.cooldown_left,
            "fired": self.fired,
        }

    def load(self, state: dict[str, float]) -> None:
        """Restore :meth:`state`."""
        self.best = float(state["best"])
        self.since_best = int(state["since_best"])
        self.cooldown_left = int(state["cooldown_left"])
        self.fired = int(state["fired"])


class DivergenceDetector:
    """Stops a run when validation loss stays ``tolerance`` above its best for ``patience``
    consecutive checks while the training loss does not rise with it (the two curves diverge:
    overfitting), after ``warmup_checks`` checks. A non-finite validation loss stops at once."""

    def __init__(self, config: DivergenceConfig) -> None:
        self.config = config
        self.best_val = math.inf
        self.best_train = math.inf
        self.bad = 0
        self.checks = 0

    def update(self, train_loss: float, val_loss: float) -> bool:
        """Record one check; true when training should stop."""
        c = self.config
        if not c.enabled:
            return False
        self.checks += 1
        if not math.isfinite(val_loss):
            return True
        train_rising = train_loss > self.best_train * (1.0 + c.tolerance)
        self.best_train = min(self.best_train, train_loss)
        if val_loss > self.best_val * (1.0 + c.tolerance) and not train_rising:
            self.bad += 1
        elif val_loss <= self.best_val:
            self.bad = 0
        self.best_val = min(self.best_val, val_loss)
        return self.checks > c.warmup_checks and self.bad >= c.patience

    def state(self) -> dict[str, float]:
        """The detector's counters (saved with checkpoints)."""
        return {
            "best_val": self.best_val,
            "best_train": self.best_train,
            "bad": self.bad,
            "checks": self.checks,
        }

    def load(self, state: dict[str, float]) -> None:
        """Restore :meth:`state`."""
        self.best_val = float(state["best_val"])
        self.best_train = float(state["best_train"])
        self.bad = int(state["bad"])
        self.checks = int(state["checks"])
