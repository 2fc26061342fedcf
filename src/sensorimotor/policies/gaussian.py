"""Tanh-squashed diagonal Gaussian policy (SAC-style) with a sampling temperature."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.nn.mlp import MLP

_LOG_2PI = float(jnp.log(2 * jnp.pi))
_ATANH_CLIP = 1.0 - 1e-4


@dataclass(frozen=True)
class GaussianPolicyConfig:
    """Hyperparameters of :class:`GaussianPolicyNet` and its optimiser."""

    hidden: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    layer_norm: bool = False
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    temperature: float = 1.0
    lr: float = 3e-4
    grad_clip: float | None = None


def tanh_log_det(u: jax.Array) -> jax.Array:
    """``sum log(1 - tanh(u)^2)`` over the last axis, computed stably."""
    return jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


class GaussianPolicyNet(nnx.Module):
    """``obs (B, Do) -> tanh(N(mu, sigma))`` over ``Da`` action dimensions."""

    def __init__(self, obs_dim: int, action_dim: int, cfg: GaussianPolicyConfig, *, rngs: nnx.Rngs):
        self.action_dim = action_dim
        self.log_std_min = cfg.log_std_min
        self.log_std_max = cfg.log_std_max
        self.temperature = cfg.temperature
        self.trunk = MLP(
            obs_dim,
            cfg.hidden,
            2 * action_dim,
            activation=cfg.activation,
            layer_norm=cfg.layer_norm,
            rngs=rngs,
        )

    def dist(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Pre-squash mean and log-std, each ``(B, Da)``; log-std softly bounded."""
        mu, raw = jnp.split(self.trunk(obs), 2, axis=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(raw) + 1.0
        )
        return mu, log_std

    def sample_and_log_prob(
        self, obs: jax.Array, rng: jax.Array, n: int = 1, temperature: float | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Reparameterised samples ``(B, n, Da)`` and their log-densities ``(B, n)``."""
        mu, log_std = self.dist(obs)
        temp = self.temperature if temperature is None else temperature
        std = jnp.exp(log_std)[:, None] * temp
        eps = jax.random.normal(rng, (obs.shape[0], n, self.action_dim))
        u = mu[:, None] + std * eps
        logp = jnp.sum(-0.5 * eps**2 - jnp.log(std) - 0.5 * _LOG_2PI, axis=-1) - tanh_log_det(u)
        return jnp.tanh(u), logp

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
        """``(B, n, Da)`` actions in ``[-1, 1]``; ``deterministic`` returns ``tanh(mu)``."""
        if deterministic:
            mu, _ = self.dist(obs)
            return jnp.broadcast_to(jnp.tanh(mu)[:, None], (obs.shape[0], n, self.action_dim))
        return self.sample_and_log_prob(obs, rng, n, temperature)[0]

    def log_prob(self, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """Log-density ``(B,)`` of normalised ``actions (B, Da)`` (clipped inside the open box)."""
        mu, log_std = self.dist(obs)
        a = jnp.clip(actions, -_ATANH_CLIP, _ATANH_CLIP)
        u = jnp.arctanh(a)
        z = (u - mu) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1) - tanh_log_det(u)

    def loss(
        self,
        obs: jax.Array,
        actions: jax.Array,
        rng: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted negative log-likelihood of the demonstrated actions."""
        del rng
        nll = -self.log_prob(obs, actions)
        w = jnp.ones_like(nll) if weights is None else weights
        mu, log_std = self.dist(obs)
        mse = jnp.mean((jnp.tanh(mu) - actions) ** 2)
        return jnp.mean(w * nll), {
            "nll": jnp.mean(nll),
            "mse": mse,
            "std": jnp.mean(jnp.exp(log_std)),
        }
