"""Autoregressive policy over discretised action dimensions.

Each of the ``Da`` (flat) action dimensions is split into ``num_bins`` uniform bins on ``[-1, 1]``;
one network models ``p(bin_i | obs, a_<i)`` from the observation, the already-chosen dimensions
(later ones masked to zero) and a one-hot of ``i``. Training is teacher-forced over all dimensions
at once; sampling is a scan over dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.nn.mlp import MLP


@dataclass(frozen=True)
class AutoregressivePolicyConfig:
    """Hyperparameters of :class:`AutoregressivePolicyNet` and its optimiser.

    ``jitter`` spreads sampled actions uniformly inside their bin (a continuous density);
    otherwise bin centres are returned.
    """

    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "relu"
    layer_norm: bool = True
    num_bins: int = 64
    temperature: float = 1.0
    jitter: bool = True
    label_smoothing: float = 0.0
    lr: float = 3e-4
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if self.num_bins < 2:
            raise ValueError(f"autoregressive num_bins must be >= 2, got {self.num_bins}")


class AutoregressivePolicyNet(nnx.Module):
    """``p(a | obs) = prod_i p(bin(a_i) | obs, a_<i)`` with a shared MLP."""

    def __init__(
        self, obs_dim: int, action_dim: int, cfg: AutoregressivePolicyConfig, *, rngs: nnx.Rngs
    ):
        self.cfg = cfg
        self.action_dim = action_dim
        self.net = MLP(
            obs_dim + 2 * action_dim,
            cfg.hidden,
            cfg.num_bins,
            activation=cfg.activation,
            layer_norm=cfg.layer_norm,
            rngs=rngs,
        )

    @property
    def bin_width(self) -> float:
        """Width of one bin in normalised action units."""
        return 2.0 / self.cfg.num_bins

    def to_bins(self, actions: jax.Array) -> jax.Array:
        """Normalised actions ``(..., Da)`` -> bin indices ``(..., Da)``."""
        idx = jnp.floor((jnp.clip(actions, -1.0, 1.0) + 1.0) / self.bin_width)
        return jnp.clip(idx, 0, self.cfg.num_bins - 1).astype(jnp.int32)

    def from_bins(self, idx: jax.Array) -> jax.Array:
        """Bin indices -> bin centres in ``[-1, 1]``."""
        return -1.0 + (idx.astype(jnp.float32) + 0.5) * self.bin_width

    def logits(self, obs: jax.Array, prefix: jax.Array, i: jax.Array) -> jax.Array:
        """Logits ``(B, K)`` for dimension ``i`` given ``prefix (B, Da)`` (entries ``>= i`` ignored)."""
        mask = (jnp.arange(self.action_dim) < i).astype(prefix.dtype)
        pos = jax.nn.one_hot(i, self.action_dim, dtype=prefix.dtype)
        pos = jnp.broadcast_to(pos, prefix.shape)
        return self.net(jnp.concatenate([obs, prefix * mask, pos], axis=-1))

    def all_logits(self, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """Teacher-forced logits ``(B, Da, K)`` for every dimension."""
        prefix = self.from_bins(self.to_bins(actions))
        dims = jnp.arange(self.action_dim)
        out = jax.vmap(lambda i: self.logits(obs, prefix, i), out_axes=1)(dims)
        return out

    def log_prob(self, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """Log-density ``(B,)`` of normalised actions (piecewise-constant within bins)."""
        logp = jax.nn.log_softmax(self.all_logits(obs, actions), axis=-1)
        idx = self.to_bins(actions)
        lp = jnp.take_along_axis(logp, idx[..., None], axis=-1)[..., 0].sum(-1)
        return lp - self.action_dim * math.log(self.bin_width)

    def loss(
        self,
        obs: jax.Array,
        actions: jax.Array,
        rng: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted cross-entropy of the demonstrated bins, summed over dimensions."""
        del rng
        logits = self.all_logits(obs, actions)
        target = jax.nn.one_hot(self.to_bins(actions), self.cfg.num_bins)
        if self.cfg.label_smoothing:
            target = (
                1 - self.cfg.label_smoothing
            ) * target + self.cfg.label_smoothing / self.cfg.num_bins
        ce = -jnp.sum(target * jax.nn.log_softmax(logits, axis=-1), axis=(-1, -2))
        w = jnp.ones_like(ce) if weights is None else weights
        acc = jnp.mean(jnp.argmax(logits, -1) == self.to_bins(actions))
        return jnp.mean(w * ce), {"ce": jnp.mean(ce), "bin_accuracy": acc}

    def sample(
        self,
        obs: jax.Array,
        rng: jax.Array,
        n: int = 1,
        *,
        deterministic: bool = False,
        temperature: float | None = None,
        **_: object,
    ) -> jax.Array:
        """``(B, n, Da)`` actions in ``[-1, 1]``; ``deterministic`` takes the arg-max bin."""
        B = obs.shape[0]
        N = B * n
        obs_r = jnp.repeat(obs, n, axis=0)
        temp = self.cfg.temperature if temperature is None else temperature
        keys = jax.random.split(rng, self.action_dim)

        def body(
            carry: tuple[jax.Array, jax.Array], inp: tuple[jax.Array, jax.Array]
        ) -> tuple[tuple[jax.Array, jax.Array], None]:
            prefix, out = carry  # prefix holds bin centres, as in teacher-forced training
            i, key = inp
            lg = self.logits(obs_r, prefix, i)
            k_c, k_u = jax.random.split(key)
            if deterministic:
                idx = jnp.argmax(lg, axis=-1)
            else:
                idx = jax.random.categorical(k_c, lg / max(temp, 1e-6), axis=-1)
            centre = self.from_bins(idx)
            val = centre
            if self.cfg.jitter and not deterministic:
                val = centre + (jax.random.uniform(k_u, (N,)) - 0.5) * self.bin_width
            return (prefix.at[:, i].set(centre), out.at[:, i].set(val)), None

        zeros = jnp.zeros((N, self.action_dim))
        (_, out), _ = jax.lax.scan(body, (zeros, zeros), (jnp.arange(self.action_dim), keys))
        return jnp.clip(out, -1.0, 1.0).reshape(B, n, self.action_dim)
