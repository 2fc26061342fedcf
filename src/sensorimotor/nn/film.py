"""FiLM: feature-wise linear modulation of tokens by a conditioning vector.

``FiLM(cond_dim, width, hidden)`` maps tokens ``x (B, T, D)`` and a condition ``c (B, E)`` to
``x * (1 + gamma(c)) + beta(c)``, with ``gamma, beta`` from a two-layer MLP whose last layer starts at
zero, so a fresh FiLM is the identity and the condition only enters through what it learns. A
per-token condition keeps a causal model causal (each token modulated by what it may see).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.nn.transformer import XAVIER


class FiLM(nnx.Module):
    """``(x (B, T, D), cond) -> x * (1 + gamma(cond)) + beta(cond)`` per channel; ``cond`` is
    ``(B, E)`` (one condition for every token) or ``(B, T, E)`` (one per token)."""

    def __init__(self, cond_dim: int, width: int, hidden: int = 128, *, rngs: nnx.Rngs) -> None:
        self.fc1 = nnx.Linear(cond_dim, hidden, kernel_init=XAVIER, rngs=rngs)
        # Zero-initialised: gamma = beta = 0 at the start, so the block is the identity.
        self.fc2 = nnx.Linear(
            hidden, 2 * width, kernel_init=nnx.initializers.zeros_init(), rngs=rngs
        )

    def modulation(self, cond: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(gamma, beta)``, each ``cond``'s leading shape + ``(D,)``."""
        gamma, beta = jnp.split(self.fc2(jax.nn.gelu(self.fc1(cond))), 2, axis=-1)
        return gamma, beta

    def __call__(self, x: jax.Array, cond: jax.Array) -> jax.Array:
        gamma, beta = self.modulation(cond)
        if cond.ndim == 2:
            gamma, beta = gamma[:, None, :], beta[:, None, :]
        return x * (1.0 + gamma.astype(x.dtype)) + beta.astype(x.dtype)
