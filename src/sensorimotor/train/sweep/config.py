"""Config schemas of the LR sweep and of the detectors that trigger or stop training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SweepConfig:
    """A two-phase learning-rate sweep (an Optuna study per phase).

    Phase A tries ``phase_a_trials`` log-uniform learning rates in ``[lr_min, lr_max]`` (one per
    equal log-width bin, so the range is covered) with a short budget each; phase B retrains the
    ``phase_b_top`` best of them with ``phase_b_seeds`` seeds each and a longer budget, and ranks
    the learning rates by the ``ranking`` statistic of their best validation losses."""

    lr_min: float = 1e-4
    lr_max: float = 1e-2
    phase_a_trials: int = 8
    phase_a_steps: int = 50  # train steps per phase-A trial
    phase_a_seconds: float | None = None  # wall-clock cap per phase-A trial; null = none
    phase_b_top: int = 2  # phase-A survivors retrained in phase B; 0 = no phase B
    phase_b_seeds: int = 2
    phase_b_steps: int = 150
    phase_b_seconds: float | None = None
    ranking: Literal["median", "mean", "min"] = "median"
    workers: int = 1  # trial processes on this machine (1 = in this process)
    storage: str | None = None  # Optuna storage URL; null = SQLite in the run directory
    heartbeat_s: float = 10.0  # a running trial's worker writes a heartbeat this often
    grace_s: float = 60.0  # a running trial without a heartbeat this long is failed and retried
    max_retries: int = 2  # retries of a trial whose worker died
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.lr_min < self.lr_max:
            raise ValueError(f"need 0 < lr_min < lr_max, got {self.lr_min}, {self.lr_max}")
        if self.phase_a_trials < 1 or self.phase_a_steps < 1:
            raise ValueError("phase_a_trials and phase_a_steps must be >= 1")
        if self.phase_b_top < 0 or self.phase_b_seeds < 1 or self.phase_b_steps < 1:
            raise ValueError("phase_b_top must be >= 0, phase_b_seeds and phase_b_steps >= 1")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.heartbeat_s <= 0 or self.grace_s <= self.heartbeat_s:
            raise ValueError("need heartbeat_s > 0 and grace_s > heartbeat_s")


@dataclass(frozen=True)
class PlateauConfig:
    """When a stalled training run triggers a mid-training LR sweep."""

    enabled: bool = True
    patience: int = 25  # updates without a relative improvement above ``threshold``
    threshold: float = 0.005  # 0.5 %
    cooldown: int = 5  # updates after a sweep before the detector watches again
    max_per_stage: int = 2
    min_improvement: float = 0.01  # a sweep's winner must beat the current loss by 1 % to be taken

    def __post_init__(self) -> None:
        if self.patience < 1 or self.cooldown < 0 or self.max_per_stage < 0:
            raise ValueError("plateau: patience >= 1, cooldown >= 0, max_per_stage >= 0")
        if self.threshold < 0 or self.min_improvement < 0:
            raise ValueError("plateau: threshold and min_improvement must be >= 0")


@dataclass(frozen=True)
class DivergenceConfig:
    """When validation loss diverging from training loss stops a run early."""

    enabled: bool = True
    patience: int = 5  # consecutive checks with validation above its best by ``tolerance``
    tolerance: float = 0.05  # relative rise of validation loss over its best (5 %)
    warmup_checks: int = 3  # checks before the detector may stop a run

    def __post_init__(self) -> None:
        if self.patience < 1 or self.tolerance < 0 or self.warmup_checks < 0:
            raise ValueError("divergence: patience >= 1, tolerance >= 0, warmup_checks >= 0")
