"""Simplicial normalisation (SimNorm): softmax over groups of ``group`` features (Lavoie et al.)."""

from __future__ import annotations

import jax


def simnorm(x: jax.Array, group: int = 8) -> jax.Array:
    """``(..., D) -> (..., D)``: split ``D`` into ``D / group`` simplices, softmax each."""
    d = x.shape[-1]
    if d % group:
        raise ValueError(
            f"SimNorm needs the feature size ({d}) to be a multiple of group ({group})"
        )
    y = x.reshape(*x.shape[:-1], d // group, group)
    return jax.nn.softmax(y, axis=-1).reshape(x.shape)
