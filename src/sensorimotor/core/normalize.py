"""Invertible normalisation (z-score or min-max) whose statistics travel with checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import numpy as np

from sensorimotor.core.errors import DataError

Kind = Literal["zscore", "minmax", "identity"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Normalizer:
    """``x_norm = (x - shift) / scale``; a JAX pytree, so it can be passed into jitted functions.

    z-score: shift = mean, scale = std. min-max: maps ``[min, max]`` to ``[-1, 1]``.
    Dimensions with (near-)zero spread get scale 1, so they pass through unchanged (shifted).
    """

    shift: Any
    scale: Any
    kind: str = field(default="zscore", metadata={"static": True})

    @classmethod
    def fit(
        cls, x: Any, kind: Kind = "zscore", axis: int | tuple[int, ...] = 0, eps: float = 1e-6
    ) -> Normalizer:
        """Statistics of ``x`` reduced over ``axis`` (compute them on clean, un-augmented data)."""
        x = np.asarray(x, dtype=np.float64)
        if x.size == 0:
            raise DataError("cannot fit a normaliser on empty data")
        if not np.isfinite(x).all():
            raise DataError(
                f"cannot fit a normaliser: data has {int((~np.isfinite(x)).sum())} NaN/Inf values"
            )
        if kind == "zscore":
            shift, scale = x.mean(axis=axis), x.std(axis=axis)
        elif kind == "minmax":
            lo, hi = x.min(axis=axis), x.max(axis=axis)
            shift, scale = (hi + lo) / 2, (hi - lo) / 2
        elif kind == "identity":
            reduced = x.mean(axis=axis)
            shift, scale = np.zeros_like(reduced), np.ones_like(reduced)
        else:
            raise ValueError(
                f"unknown normaliser kind {kind!r}; expected 'zscore', 'minmax' or 'identity'"
            )
        scale = np.where(scale < eps, 1.0, scale)
        return cls(np.asarray(shift, np.float32), np.asarray(scale, np.float32), kind)

    def normalize(self, x: Any) -> Any:
        """Map raw values to normalised ones (NumPy in → NumPy out, JAX in → JAX out)."""
        return (x - self.shift) / self.scale

    def denormalize(self, x_norm: Any) -> Any:
        """Inverse of :meth:`normalize`."""
        return x_norm * self.scale + self.shift

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint tree: ``{"kind", "shift", "scale"}``."""
        return {"kind": self.kind, "shift": np.asarray(self.shift), "scale": np.asarray(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`; a clear error when keys are missing or shapes disagree."""
        missing = {"kind", "shift", "scale"} - set(data)
        if missing:
            raise DataError(f"normaliser stats are missing {sorted(missing)}")
        shift, scale = np.asarray(data["shift"], np.float32), np.asarray(data["scale"], np.float32)
        if shift.shape != scale.shape:
            raise DataError(f"normaliser shift has shape {shift.shape} but scale has {scale.shape}")
        return cls(shift, scale, str(data["kind"]))
