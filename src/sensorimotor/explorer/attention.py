"""Attention maps as the explorer shows them: patch selection, aggregation, quantile filter, stats.

Plain NumPy on a stacked attention tensor ``(L, heads, N, N)`` (row = query patch, column = key
patch, rows sum to 1), so every operation can be checked on a hand-made tensor. Turning a model's
attention into that tensor (and encoder token indices into canvas patches) is in
:mod:`sensorimotor.explorer.canvas`; drawing is in :mod:`sensorimotor.explorer.plots`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sensorimotor.core.errors import UserError

Reduce = Literal["mean", "max", "sum"]
_REDUCERS = {"mean": np.mean, "max": np.max, "sum": np.sum}


def parse_patch_ranges(text: str, num_patches: int) -> list[int]:
    """Patch indices from ``"0,5,10-15"`` (ranges inclusive), sorted and unique; a clear error for
    anything else or for an index outside ``[0, num_patches)``."""
    out: set[int] = set()
    for raw in text.replace(" ", "").split(","):
        if not raw:
            continue
        try:
            if "-" in raw:
                first, last = (int(x) for x in raw.split("-", 1))
            else:
                first = last = int(raw)
        except ValueError:
            raise UserError(
                f"patch selection {text!r}: {raw!r} is not an index or a range like 10-15"
            ) from None
        if first > last:
            raise UserError(f"patch selection {text!r}: range {raw!r} runs backwards")
        if first < 0 or last >= num_patches:
            raise UserError(
                f"patch selection {text!r}: {raw!r} is outside the patches 0-{num_patches - 1}"
            )
        out.update(range(first, last + 1))
    if not out:
        raise UserError(f"patch selection {text!r} selects no patch; type e.g. 0,5,10-15")
    return sorted(out)


def bright_patches(canvas: np.ndarray, patch_size: int, threshold: float) -> list[int]:
    """Patches of ``canvas (H, W, 3)`` uint8 whose brightest pixel (mean over channels, in [0, 1])
    exceeds ``threshold``: the automatic selection (e.g. the dot in every slot)."""
    h, w = canvas.shape[:2]
    gh, gw = h // patch_size, w // patch_size
    grey = canvas[: gh * patch_size, : gw * patch_size].astype(np.float32).mean(axis=-1) / 255.0
    peaks = grey.reshape(gh, patch_size, gw, patch_size).max(axis=(1, 3)).reshape(-1)
    return [int(i) for i in np.flatnonzero(peaks > threshold)]


def aggregate(
    attention: np.ndarray,
    patches: list[int],
    *,
    layers: list[int] | None = None,
    heads: list[int] | None = None,
    over_heads: Reduce = "mean",
    over_patches: Reduce = "mean",
) -> np.ndarray:
    """Attention from the selected query ``patches`` to every patch, per selected layer:
    ``(L, heads, N, N)`` → ``(len(layers), N)``, reduced over the selected heads, then over the
    selected patches."""
    attention = np.asarray(attention, np.float64)
    if attention.ndim != 4 or attention.shape[2] != attention.shape[3]:
        raise ValueError(f"expected attention (layers, heads, N, N), got {attention.shape}")
    layers = list(range(attention.shape[0])) if layers is None else layers
    heads = list(range(attention.shape[1])) if heads is None else heads
    if not layers or not heads or not patches:
        raise UserError("select at least one layer, one head and one patch")
    picked = attention[np.ix_(layers, heads, patches)]  # (l, h, p, N)
    per_head = _REDUCERS[over_heads](picked, axis=1)  # (l, p, N)
    return _REDUCERS[over_patches](per_head, axis=1)  # (l, N)


def head_matrix(
    attention: np.ndarray,
    *,
    layers: list[int] | None = None,
    heads: list[int] | None = None,
    over_heads: Reduce = "mean",
) -> np.ndarray:
    """The full patch-to-patch matrix ``(N, N)``: reduced over the selected heads, mean over layers."""
    attention = np.asarray(attention, np.float64)
    layers = list(range(attention.shape[0])) if layers is None else layers
    heads = list(range(attention.shape[1])) if heads is None else heads
    picked = attention[np.ix_(layers, heads)]
    return _REDUCERS[over_heads](picked, axis=1).mean(axis=0)


def quantile_filter(weights: np.ndarray, keep_percent: float) -> np.ndarray:
    """``weights`` with only the strongest ``keep_percent`` % of entries kept (the rest set to 0).

    Keeps exactly ``ceil(size * keep_percent / 100)`` entries (ties broken by position), so 10 % of
    20 weights keeps 2."""
    if not 0 < keep_percent <= 100:
        raise UserError(f"the quantile filter keeps (0, 100] % of the weights, got {keep_percent}")
    flat = np.asarray(weights, np.float64).reshape(-1)
    keep = math.ceil(flat.size * keep_percent / 100 - 1e-9)
    out = np.zeros_like(flat)
    strongest = np.argsort(-flat, kind="stable")[:keep]
    out[strongest] = flat[strongest]
    return out.reshape(np.shape(weights))


@dataclass(frozen=True)
class AttentionStats:
    """What the statistics panel shows for filtered weights ``(L, N)``."""

    connections: int  # non-zero weights after the filter
    connections_per_layer: list[int]
    total_weight: float
    max_weight: float
    mean_weight: float  # over the kept connections
    weight_per_layer: list[float]
    entropy_per_head: list[list[float]]  # (L, heads): mean row entropy of the selected rows


def attention_stats(
    filtered: np.ndarray, attention: np.ndarray, patches: list[int], layers: list[int]
) -> AttentionStats:
    """Connection counts and weights of ``filtered (len(layers), N)``, plus per-head entropies
    of the selected rows of ``attention (L, heads, N, N)``."""
    kept = filtered[filtered > 0]
    rows = np.asarray(attention, np.float64)[layers][:, :, patches]  # (l, h, p, N)
    entropy = -(rows * np.log(np.clip(rows, 1e-12, None))).sum(-1).mean(-1)
    return AttentionStats(
        connections=int(kept.size),
        connections_per_layer=[int((row > 0).sum()) for row in filtered],
        total_weight=float(kept.sum()),
        max_weight=float(kept.max()) if kept.size else 0.0,
        mean_weight=float(kept.mean()) if kept.size else 0.0,
        weight_per_layer=[float(row.sum()) for row in filtered],
        entropy_per_head=[[float(e) for e in layer] for layer in entropy],
    )


def patch_centre(index: int, grid_width: int, patch_size: int) -> tuple[float, float]:
    """Canvas pixel ``(x, y)`` of the centre of patch ``index`` in a grid ``grid_width`` wide."""
    row, col = divmod(index, grid_width)
    return ((col + 0.5) * patch_size, (row + 0.5) * patch_size)
