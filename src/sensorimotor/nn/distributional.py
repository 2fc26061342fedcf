"""Categorical regression of scalars: symlog, two-hot and HL-Gauss targets over a fixed support.

A ``Support`` is ``K`` evenly spaced bin centres on ``[v_min, v_max]``, optionally in symlog space
(``symlog=True``: values are squashed with ``symlog`` before binning and expanded with ``symexp``
after decoding, as in DreamerV3 / TD-MPC2).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.scipy.special import erf


def symlog(x: jax.Array) -> jax.Array:
    """``sign(x) * log(1 + |x|)``."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: jax.Array) -> jax.Array:
    """Inverse of :func:`symlog`."""
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


@dataclass(frozen=True)
class Support:
    """``num_bins`` bin centres on ``[v_min, v_max]`` (in symlog space when ``symlog``)."""

    v_min: float = -10.0
    v_max: float = 10.0
    num_bins: int = 101
    symlog: bool = False

    def __post_init__(self) -> None:
        if self.num_bins < 2:
            raise ValueError(f"a categorical support needs num_bins >= 2, got {self.num_bins}")
        if not self.v_max > self.v_min:
            raise ValueError(f"support needs v_max > v_min, got [{self.v_min}, {self.v_max}]")

    @property
    def bin_width(self) -> float:
        """Distance between neighbouring bin centres."""
        return (self.v_max - self.v_min) / (self.num_bins - 1)

    def centers(self) -> jax.Array:
        """Bin centres ``(K,)`` in the (possibly symlog) binning space."""
        return jnp.linspace(self.v_min, self.v_max, self.num_bins, dtype=jnp.float32)

    def _to_space(self, x: jax.Array) -> jax.Array:
        x = symlog(x) if self.symlog else x
        return jnp.clip(x, self.v_min, self.v_max)

    def two_hot(self, x: jax.Array) -> jax.Array:
        """Scalars ``(...)`` -> two-hot probabilities ``(..., K)`` on the two nearest bins."""
        x = self._to_space(jnp.asarray(x, jnp.float32))
        pos = (x - self.v_min) / self.bin_width
        lo = jnp.clip(jnp.floor(pos), 0, self.num_bins - 1)
        w_hi = pos - lo
        lo = lo.astype(jnp.int32)
        hi = jnp.minimum(lo + 1, self.num_bins - 1)
        return (
            jax.nn.one_hot(lo, self.num_bins) * (1 - w_hi)[..., None]
            + jax.nn.one_hot(hi, self.num_bins) * w_hi[..., None]
        )

    def hl_gauss(self, x: jax.Array, sigma_ratio: float = 0.75) -> jax.Array:
        """Scalars ``(...)`` -> HL-Gauss probabilities ``(..., K)``.

        The mass of ``N(x, sigma^2)`` in each bin (``sigma = sigma_ratio * bin_width``),
        renormalised to the support (Imani & White 2018; Farebrother et al. 2024).
        """
        x = self._to_space(jnp.asarray(x, jnp.float32))
        sigma = sigma_ratio * self.bin_width
        edges = jnp.linspace(
            self.v_min - self.bin_width / 2,
            self.v_max + self.bin_width / 2,
            self.num_bins + 1,
            dtype=jnp.float32,
        )
        cdf = erf((edges - x[..., None]) / (jnp.sqrt(2.0) * sigma))
        mass = cdf[..., 1:] - cdf[..., :-1]
        return mass / jnp.maximum(mass.sum(-1, keepdims=True), 1e-8)

    def project(self, x: jax.Array, kind: str = "two_hot", sigma_ratio: float = 0.75) -> jax.Array:
        """Scalars ``(...)`` -> target probabilities ``(..., K)`` (``two_hot`` or ``hl_gauss``)."""
        if kind == "two_hot":
            return self.two_hot(x)
        if kind == "hl_gauss":
            return self.hl_gauss(x, sigma_ratio)
        raise ValueError(f"unknown categorical target {kind!r}; expected 'two_hot' or 'hl_gauss'")

    def decode(self, logits: jax.Array) -> jax.Array:
        """Logits ``(..., K)`` -> expected scalar ``(...)`` (symexp-ed when ``symlog``)."""
        v = jnp.sum(jax.nn.softmax(logits, axis=-1) * self.centers(), axis=-1)
        return symexp(v) if self.symlog else v


def soft_cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """Cross-entropy ``(...)`` between logits ``(..., K)`` and target probabilities ``(..., K)``."""
    return -jnp.sum(target_probs * jax.nn.log_softmax(logits, axis=-1), axis=-1)
