"""Per-feature statistics in LeRobot's ``meta/stats.json`` form (min, max, mean, std, count, quantiles)."""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


def vector_stats(values: np.ndarray) -> dict[str, Any]:
    """Stats of ``(N, D)`` (or ``(N,)``) numbers over the frame axis, as lists."""
    x = np.asarray(values, np.float64).reshape(len(values), -1)
    stats: dict[str, Any] = {
        "min": x.min(0).tolist(),
        "max": x.max(0).tolist(),
        "mean": x.mean(0).tolist(),
        "std": x.std(0).tolist(),
        "count": [len(x)],
    }
    for name, q in QUANTILES.items():
        stats[name] = np.quantile(x, q, axis=0).tolist()
    return stats


class ImageStats:
    """Running per-channel stats of ``uint8 (T, H, W, 3)`` frames, scaled to [0, 1] like LeRobot's."""

    def __init__(self) -> None:
        self.count = 0
        self.pixels = 0
        self.total = np.zeros(3)
        self.squares = np.zeros(3)
        self.low = np.full(3, np.inf)
        self.high = np.full(3, -np.inf)
        self.samples: list[np.ndarray] = []

    def add(self, frames: np.ndarray) -> None:
        """Accumulate one episode's frames."""
        x = frames.reshape(-1, 3).astype(np.float64) / 255.0
        self.count += len(frames)
        self.pixels += len(x)
        self.total += x.sum(0)
        self.squares += (x * x).sum(0)
        self.low = np.minimum(self.low, x.min(0))
        self.high = np.maximum(self.high, x.max(0))
        self.samples.append(x[:: max(1, len(x) // 10000)])

    def to_dict(self) -> dict[str, Any]:
        """``(3, 1, 1)`` nested lists per statistic, plus the frame count."""
        mean = self.total / self.pixels
        std = np.sqrt(np.maximum(self.squares / self.pixels - mean * mean, 0.0))
        sample = np.concatenate(self.samples)

        def shaped(v: np.ndarray) -> list:
            return np.asarray(v).reshape(3, 1, 1).tolist()

        stats = {
            "min": shaped(self.low),
            "max": shaped(self.high),
            "mean": shaped(mean),
            "std": shaped(std),
            "count": [self.count],
        }
        for name, q in QUANTILES.items():
            stats[name] = shaped(np.quantile(sample, q, axis=0))
        return stats
