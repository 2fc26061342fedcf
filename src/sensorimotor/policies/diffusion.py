"""Diffusion policy: DDPM training, DDPM or DDIM sampling, classifier-free and critic guidance.

The network predicts the noise ``eps(x_t, obs, t)`` on flat action chunks ``(B, Da)`` given flat
observation windows ``(B, Do)`` (``Spec.action_horizon`` / ``obs_horizon`` set the chunk sizes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.nn import diffusion as dfn
from sensorimotor.nn.mlp import MLP

#: Reverse samplers: ancestral DDPM or DDIM.
Sampler = Literal["ddpm", "ddim"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
GuidanceFn = Callable[[jax.Array, jax.Array], jax.Array]


@dataclass(frozen=True)
class DiffusionPolicyConfig:
    """Hyperparameters of :class:`DiffusionPolicyNet` and its optimiser.

    ``sampler="ddpm"`` runs ancestral sampling over all ``num_steps`` (or strided DDPM with
    ``eta=1`` when ``sample_steps < num_steps``); ``"ddim"`` runs ``sample_steps`` DDIM steps with
    ``eta``. ``cond_drop_prob > 0`` trains an unconditional branch for classifier-free guidance,
    used at sampling with weight ``cfg_scale``.
    """

    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "mish"
    layer_norm: bool = True
    time_dim: int = 32
    num_steps: int = 100
    schedule: str = "cosine"
    sampler: Sampler = "ddim"
    sample_steps: int = 10
    eta: float = 0.0
    clip_sample: float = 1.0
    cond_drop_prob: float = 0.0
    cfg_scale: float = 0.0
    lr: float = 3e-4
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown diffusion sampler {self.sampler!r}; expected {SAMPLERS}")
        if self.schedule not in dfn.SCHEDULES:
            raise ValueError(
                f"unknown noise schedule {self.schedule!r}; expected one of {dfn.SCHEDULES}"
            )
        if not 1 <= self.sample_steps <= self.num_steps:
            raise ValueError(
                f"sample_steps must be in [1, num_steps={self.num_steps}], got {self.sample_steps}"
            )


class DiffusionPolicyNet(nnx.Module):
    """Noise-prediction network ``eps(x_t, obs, t)`` plus the DDPM loss and samplers."""

    def __init__(
        self, obs_dim: int, action_dim: int, cfg: DiffusionPolicyConfig, *, rngs: nnx.Rngs
    ):
        self.cfg = cfg
        self.action_dim = action_dim
        self.obs_dim = obs_dim
        self.time_mlp = MLP(
            cfg.time_dim, (2 * cfg.time_dim,), cfg.time_dim, activation="mish", rngs=rngs
        )
        self.net = MLP(
            action_dim + obs_dim + 1 + cfg.time_dim,
            cfg.hidden,
            action_dim,
            activation=cfg.activation,
            layer_norm=cfg.layer_norm,
            rngs=rngs,
        )

    def schedule(self) -> dfn.Schedule:
        """The noise schedule (constants under jit)."""
        return dfn.Schedule.create(self.cfg.schedule, self.cfg.num_steps)

    def eps(self, x_t: jax.Array, obs: jax.Array, t: jax.Array, keep: jax.Array) -> jax.Array:
        """Predicted noise ``(N, Da)``; ``keep (N,)`` is 1 for conditional, 0 for unconditional."""
        temb = self.time_mlp(dfn.timestep_embedding(t, self.cfg.time_dim))
        k = keep.astype(x_t.dtype)[:, None]
        return self.net(jnp.concatenate([x_t, obs * k, k, temb], axis=-1))

    def loss(
        self,
        obs: jax.Array,
        actions: jax.Array,
        rng: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted noise-prediction MSE at uniformly drawn timesteps."""
        sched = self.schedule()
        B = actions.shape[0]
        k_t, k_n, k_d = jax.random.split(rng, 3)
        t = jax.random.randint(k_t, (B,), 0, self.cfg.num_steps)
        noise = jax.random.normal(k_n, actions.shape)
        x_t = dfn.q_sample(sched, actions, t, noise)
        keep = jax.random.uniform(k_d, (B,)) >= self.cfg.cond_drop_prob
        err = jnp.mean((self.eps(x_t, obs, t, keep) - noise) ** 2, axis=-1)
        w = jnp.ones_like(err) if weights is None else weights
        return jnp.mean(w * err), {"mse": jnp.mean(err)}

    def sample(
        self,
        obs: jax.Array,
        rng: jax.Array,
        n: int = 1,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        cfg_scale: float | None = None,
        guidance_fn: GuidanceFn | None = None,
        guidance_scale: float = 0.0,
        deterministic: bool = False,
        **_: object,
    ) -> jax.Array:
        """``(B, n, Da)`` actions in ``[-1, 1]``.

        ``guidance_fn(obs (N, Do), actions (N, Da)) -> (N, Da)`` is a gradient (e.g. of a critic)
        added to the score with weight ``guidance_scale`` at every step, evaluated at the current
        clean-sample estimate. ``deterministic`` starts DDIM (``eta = 0``) from ``x_T = 0``.
        """
        cfg = self.cfg
        sampler = sampler or cfg.sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown diffusion sampler {sampler!r}; expected {SAMPLERS}")
        T = cfg.num_steps
        if sampler == "ddpm":
            steps = steps or T
            eta = 1.0 if eta is None else eta
        else:
            steps = steps or cfg.sample_steps
            eta = cfg.eta if eta is None else eta
        if deterministic:
            eta = 0.0
        w = cfg.cfg_scale if cfg_scale is None else cfg_scale
        sched = self.schedule()
        ts = dfn.sampling_timesteps(T, steps)
        t_arr = jnp.asarray(ts, jnp.int32)
        tp_arr = jnp.asarray(ts[1:] + [-1], jnp.int32)
        use_ddpm = sampler == "ddpm" and len(ts) == T and eta == 1.0

        B = obs.shape[0]
        N = B * n
        obs_r = jnp.repeat(obs, n, axis=0)
        k0, k_loop = jax.random.split(rng)
        x = (
            jnp.zeros((N, self.action_dim))
            if deterministic
            else jax.random.normal(k0, (N, self.action_dim))
        )
        ones = jnp.ones((N,), bool)
        keys = jax.random.split(k_loop, len(ts))
        clip = cfg.clip_sample if cfg.clip_sample > 0 else None

        def body(
            x: jax.Array, inp: tuple[jax.Array, jax.Array, jax.Array]
        ) -> tuple[jax.Array, None]:
            t, t_prev, key = inp
            tb = jnp.full((N,), t)
            e = self.eps(x, obs_r, tb, ones)
            if w != 0.0:
                e_u = self.eps(x, obs_r, tb, ~ones)
                e = (1.0 + w) * e - w * e_u
            if guidance_fn is not None and guidance_scale != 0.0:
                x0 = jnp.clip(dfn.predict_x0(sched, x, tb, e), -1.0, 1.0)
                g = jax.lax.stop_gradient(guidance_fn(obs_r, x0))
                e = e - guidance_scale * jnp.sqrt(1.0 - sched.alpha_bars[t]) * g
            noise = jax.random.normal(key, x.shape)
            if use_ddpm:
                x = dfn.ddpm_step(sched, x, tb, e, noise, clip=clip)
            else:
                x = dfn.ddim_step(
                    sched, x, tb, jnp.full((N,), t_prev), e, noise, eta=eta, clip=clip
                )
            return x, None

        x, _ = jax.lax.scan(body, x, (t_arr, tp_arr, keys))
        return jnp.clip(x, -1.0, 1.0).reshape(B, n, self.action_dim)
