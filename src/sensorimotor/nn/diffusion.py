"""Denoising-diffusion helpers: noise schedules, forward noising, DDPM and DDIM reverse steps.

Conventions: ``T`` training timesteps indexed ``t = 0 .. T-1`` (``t = 0`` is the least noisy);
``alpha_bar[t] = prod_{s <= t} (1 - beta[s])``. All functions are pure and jit-friendly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

SCHEDULES = ("linear", "cosine", "vp")


def make_betas(kind: str, num_steps: int) -> jax.Array:
    """Noise variances ``beta`` of shape ``(T,)`` for a named schedule.

    ``linear``: DDPM's 1e-4 .. 0.02 (rescaled to ``T``); ``cosine``: Nichol & Dhariwal's
    squared-cosine ``alpha_bar``; ``vp``: the variance-preserving SDE discretisation used by IDQL.
    """
    if num_steps < 1:
        raise ValueError(f"diffusion num_steps must be >= 1, got {num_steps}")
    T = num_steps
    if kind == "linear":
        scale = 1000.0 / T
        betas = np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), T)
    elif kind == "cosine":
        s = 0.008
        f = np.cos(((np.arange(T + 1) / T) + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        betas = np.clip(1 - alpha_bar[1:] / alpha_bar[:-1], 0.0, 0.999)
    elif kind == "vp":
        t = np.arange(1, T + 1)
        b_max, b_min = 10.0, 0.1
        betas = 1 - np.exp(-b_min / T - 0.5 * (b_max - b_min) * (2 * t - 1) / T**2)
    else:
        raise ValueError(f"unknown noise schedule {kind!r}; expected one of {list(SCHEDULES)}")
    return jnp.asarray(betas, jnp.float32)


@struct.dataclass
class Schedule:
    """Precomputed per-timestep coefficients, each of shape ``(T,)``."""

    betas: jax.Array
    alphas: jax.Array
    alpha_bars: jax.Array

    @classmethod
    def create(cls, kind: str, num_steps: int) -> Schedule:
        """The schedule called ``kind`` with ``num_steps`` training timesteps."""
        betas = make_betas(kind, num_steps)
        alphas = 1.0 - betas
        return cls(betas=betas, alphas=alphas, alpha_bars=jnp.cumprod(alphas))

    @property
    def num_steps(self) -> int:
        """Number of training timesteps ``T``."""
        return int(self.betas.shape[0])


def _bcast(c: jax.Array, x: jax.Array) -> jax.Array:
    """Reshape per-sample coefficients ``(B,)`` (or a scalar) to broadcast against ``x (B, ...)``."""
    c = jnp.asarray(c)
    return c.reshape(c.shape + (1,) * (x.ndim - c.ndim))


def q_sample(sched: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """Forward noising ``x_t = sqrt(a_bar_t) x0 + sqrt(1 - a_bar_t) noise``; ``t`` is ``(B,)`` ints."""
    ab = sched.alpha_bars[t]
    return _bcast(jnp.sqrt(ab), x0) * x0 + _bcast(jnp.sqrt(1 - ab), x0) * noise


def predict_x0(sched: Schedule, x_t: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """Clean-sample estimate from a noise prediction at timestep ``t``."""
    ab = sched.alpha_bars[t]
    return (x_t - _bcast(jnp.sqrt(1 - ab), x_t) * eps) / _bcast(jnp.sqrt(ab), x_t)


def ddpm_step(
    sched: Schedule,
    x_t: jax.Array,
    t: jax.Array,
    eps: jax.Array,
    noise: jax.Array,
    *,
    clip: float | None = 1.0,
) -> jax.Array:
    """One ancestral DDPM step ``x_t -> x_{t-1}`` from the posterior ``q(x_{t-1} | x_t, x0_hat)``.

    ``clip`` bounds the ``x0`` estimate (``None`` = unbounded). At ``t = 0`` no noise is added.
    """
    x0 = predict_x0(sched, x_t, t, eps)
    if clip is not None:
        x0 = jnp.clip(x0, -clip, clip)
    ab = sched.alpha_bars[t]
    ab_prev = jnp.where(t > 0, sched.alpha_bars[jnp.maximum(t - 1, 0)], 1.0)
    beta = sched.betas[t]
    coef_x0 = jnp.sqrt(ab_prev) * beta / (1 - ab)
    coef_xt = jnp.sqrt(sched.alphas[t]) * (1 - ab_prev) / (1 - ab)
    var = beta * (1 - ab_prev) / (1 - ab)
    mean = _bcast(coef_x0, x_t) * x0 + _bcast(coef_xt, x_t) * x_t
    std = jnp.where(t > 0, jnp.sqrt(jnp.maximum(var, 1e-20)), 0.0)
    return mean + _bcast(std, x_t) * noise


def ddim_step(
    sched: Schedule,
    x_t: jax.Array,
    t: jax.Array,
    t_prev: jax.Array,
    eps: jax.Array,
    noise: jax.Array,
    *,
    eta: float = 0.0,
    clip: float | None = 1.0,
) -> jax.Array:
    """One DDIM step ``x_t -> x_{t_prev}`` (``t_prev < 0`` means the final clean sample).

    ``eta = 0`` is deterministic DDIM; ``eta = 1`` with consecutive steps recovers DDPM.
    """
    x0 = predict_x0(sched, x_t, t, eps)
    if clip is not None:
        x0 = jnp.clip(x0, -clip, clip)
        # Re-derive the noise consistent with the clipped x0 (standard practice with clipping).
        ab = sched.alpha_bars[t]
        eps = (x_t - _bcast(jnp.sqrt(ab), x_t) * x0) / _bcast(jnp.sqrt(1 - ab), x_t)
    ab = sched.alpha_bars[t]
    ab_prev = jnp.where(t_prev >= 0, sched.alpha_bars[jnp.maximum(t_prev, 0)], 1.0)
    sigma = eta * jnp.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
    dir_coef = jnp.sqrt(jnp.maximum(1 - ab_prev - sigma**2, 0.0))
    out = _bcast(jnp.sqrt(ab_prev), x_t) * x0 + _bcast(dir_coef, x_t) * eps
    return out + _bcast(sigma, x_t) * noise


def sampling_timesteps(num_train_steps: int, num_sample_steps: int) -> list[int]:
    """Descending, evenly strided timesteps ``[t_K-1, ..., 0]`` for a ``num_sample_steps`` sampler."""
    if not 1 <= num_sample_steps <= num_train_steps:
        raise ValueError(
            f"sample steps must be in [1, {num_train_steps}] (the training steps), "
            f"got {num_sample_steps}"
        )
    ts = [
        round(i * (num_train_steps - 1) / max(num_sample_steps - 1, 1))
        for i in range(num_sample_steps)
    ]
    if num_sample_steps == 1:
        ts = [num_train_steps - 1]
    return sorted(set(ts), reverse=True)


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Sinusoidal embedding ``(B,) -> (B, dim)`` of (possibly fractional) timesteps."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    args = jnp.asarray(t, jnp.float32)[..., None] * freqs
    emb = jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
    if dim % 2:
        emb = jnp.concatenate([emb, jnp.zeros_like(emb[..., :1])], axis=-1)
    return emb
