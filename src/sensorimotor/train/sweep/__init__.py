"""Learning-rate sweeps on Optuna (a generic piece: any objective "train this config for this
budget from these weights at this learning rate") and the plateau / divergence detectors."""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "SweepConfig": "config",
    "PlateauConfig": "config",
    "DivergenceConfig": "config",
    "PlateauDetector": "detectors",
    "DivergenceDetector": "detectors",
    "TrialSpec": "objective",
    "TrialOutcome": "objective",
    "load_objective": "objective",
    "SweepResult": "sweep",
    "run_sweep": "sweep",
    "choose_winner": "sweep",
    "log_uniform_candidates": "sweep",
    "open_storage": "storage",
    "quadratic_objective": "toy",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
