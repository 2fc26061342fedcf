"""Prediction quality: R² per target on whole clips (teacher-forced)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sensorimotor.data.clips.modes import ModeArrays


def r2_scores(y_true: np.ndarray, y_pred: np.ndarray, eps: float = 1e-8) -> dict[str, float]:
    """R² of ``(N, D)`` predictions: ``r2`` = mean over dims with non-zero variance (uniform),
    ``r2_pooled`` = 1 - total SSE / total SST over all dims."""
    y_true = y_true.reshape(-1, y_true.shape[-1]).astype(np.float64)
    y_pred = y_pred.reshape(-1, y_pred.shape[-1]).astype(np.float64)
    sse = ((y_true - y_pred) ** 2).sum(0)
    sst = ((y_true - y_true.mean(0)) ** 2).sum(0)
    ok = sst > eps * len(y_true)
    per_dim = 1.0 - sse[ok] / sst[ok]
    return {
        "r2": float(per_dim.mean()) if ok.any() else float("nan"),
        "r2_pooled": float(1.0 - sse[ok].sum() / sst[ok].sum()) if ok.any() else float("nan"),
        "mse": float(sse.sum() / y_true.size),
    }


def evaluate_clips(
    clips: Sequence[ModeArrays], predict: Callable[[np.ndarray], dict[str, np.ndarray]]
) -> dict[str, float]:
    """R² per target over ``clips``; ``predict(x (T, D_in)) -> name -> (T, D)`` in raw units."""
    trues: dict[str, list[np.ndarray]] = {}
    preds: dict[str, list[np.ndarray]] = {}
    for clip in clips:
        out = predict(clip.x)
        for name, y in clip.targets.items():
            trues.setdefault(name, []).append(y)
            preds.setdefault(name, []).append(np.asarray(out[name]))
    metrics: dict[str, float] = {}
    for name in trues:
        for k, v in r2_scores(np.concatenate(trues[name]), np.concatenate(preds[name])).items():
            metrics[f"{name}/{k}"] = v
    return metrics
