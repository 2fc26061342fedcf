"""A cheap real objective with a known best learning rate, to check sweeps end to end.

Gradient descent on the quadratic ``0.5 * curvature * x**2`` from ``x0`` (jittered by the seed):
after ``k`` steps ``x = x0 * (1 - lr * curvature) ** k``, so the loss is smallest at
``lr = 1 / curvature`` and diverges above ``2 / curvature``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from sensorimotor.core.rng import np_rng
from sensorimotor.train.sweep.objective import Objective, TrialOutcome, TrialSpec


def quadratic_objective(spec: dict[str, Any]) -> Objective:
    """The objective for ``spec``: ``curvature`` (default 4), ``sleep_s`` per step (to make trials
    long enough to interrupt), ``work`` (matrix products per step, to load a CPU)."""
    curvature = float(spec.get("curvature", 4.0))
    sleep_s = float(spec.get("sleep_s", 0.0))
    work = int(spec.get("work", 0))

    def objective(trial: TrialSpec) -> TrialOutcome:
        rng = np_rng(trial.seed, "toy")
        x = 1.0 + 0.01 * rng.standard_normal()
        curve, best = [], math.inf
        m = rng.standard_normal((64, 64)) if work else None
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(trial.steps):
                x = x - trial.lr * curvature * x
                loss = 0.5 * curvature * x * x + 1e-6
                curve.append(float(loss))
                best = min(best, loss) if math.isfinite(loss) else math.nan
                for _ in range(work):
                    m = np.tanh(m @ m.T / 64.0)
                if sleep_s:
                    time.sleep(sleep_s)
        path = trial.workdir / "result.json"
        path.write_text(json.dumps({"x": float(x), "lr": trial.lr}))
        return TrialOutcome(best, str(path), trial.steps, curve[-50:])

    return objective
