"""TD-MPC2 (Hansen et al. 2024): a decoder-free latent world model planned with MPPI.

- encoder ``obs -> z`` and latent dynamics ``(z, a) -> z'``, both ending in LayerNorm + SimNorm;
- reward head and an ensemble of ``num_q`` Q heads (dropout in the first layer) regress
  symlog two-hot targets over ``num_bins`` bins; Q targets are the min of two random heads of a
  Polyak-averaged copy, bootstrapped with a sampled action of the policy prior;
- a tanh-Gaussian policy prior trained to maximise the (running-scale-normalised) Q plus a
  small entropy bonus; with ``policy_constraint > 0`` (TD-M(PC)^2, Lin et al. 2025) also
  toward the buffer's actions (the planner's own) by their negative log-likelihood, which keeps
  the prior, and so the bootstrapped Q targets, on actions the planner actually took;
- losses over an ``H``-step latent rollout weighted by ``rho^t``: joint-embedding consistency,
  reward and value;
- acting plans with MPPI (``iterations`` x ``num_samples`` action sequences of length
  ``horizon``, ``num_pi_trajs`` of them from the policy prior, ``num_elites`` elites, softmax
  weights at ``temperature``), warm-started from the previous step's shifted mean. The planner
  is jitted and vmapped over environments.

Model sizes follow the paper's presets (``model_size`` 1, 5, 19, 48, 317 million parameters).
Batches are ``H``-step windows: ``observations (B, H+1, D)``, ``actions (B, H, A)``,
``rewards (B, H)`` (see ``ReplayBuffer.sample_sequences``). Episodes are assumed to end only by
time limits (no termination head), as in the paper's DMControl setting.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from sensorimotor.agents.base import Agent, BatchKind
from sensorimotor.core.errors import ConfigError
from sensorimotor.learners.config import make_config
from sensorimotor.learners.optim import make_optimizer
from sensorimotor.learners.spec import Spec
from sensorimotor.learners.state import TrainState, global_norm
from sensorimotor.nn.distributional import Support, soft_cross_entropy
from sensorimotor.nn.ensemble import Ensemble
from sensorimotor.nn.mlp import MLP
from sensorimotor.nn.simnorm import simnorm
from sensorimotor.policies.gaussian import tanh_log_det

#: The paper's model-size presets (millions of parameters).
MODEL_SIZES: dict[int, dict[str, int]] = {
    1: {"enc_dim": 256, "mlp_dim": 384, "latent_dim": 128, "num_enc_layers": 2, "num_q": 2},
    5: {"enc_dim": 256, "mlp_dim": 512, "latent_dim": 512, "num_enc_layers": 2},
    19: {"enc_dim": 1024, "mlp_dim": 1024, "latent_dim": 768, "num_enc_layers": 3},
    48: {"enc_dim": 1792, "mlp_dim": 1792, "latent_dim": 768, "num_enc_layers": 4},
    317: {"enc_dim": 4096, "mlp_dim": 4096, "latent_dim": 1376, "num_enc_layers": 5, "num_q": 8},
}
_SIZE_KEYS = ("enc_dim", "mlp_dim", "latent_dim", "num_enc_layers", "num_q")
_LOG_2PI = 1.8378770664093453

#: Published TD-MPC2 evaluation returns (``nicklashansen/tdmpc2`` ``results/``; seeds 1-3) at
#: 0 and 100k steps (one step = one decision with action repeat 2).
PUBLISHED_RETURNS: dict[str, dict[int, tuple[float, ...]]] = {
    "cartpole-swingup": {0: (1.5, 2.0, 4.8), 100_000: (860.5, 789.8, 867.9)},
    "pendulum-swingup": {0: (0.0, 0.0, 1.4), 100_000: (563.7, 852.2, 756.0)},
}


@dataclass(frozen=True)
class TDMPC2Config:
    """TD-MPC2 hyperparameters (defaults: the paper's). Size fields left ``None`` come from the
    ``model_size`` preset; ``discount=None`` derives it from ``episode_length``."""

    model_size: int | None = 5
    enc_dim: int | None = None
    mlp_dim: int | None = None
    latent_dim: int | None = None
    num_enc_layers: int | None = None
    num_q: int | None = None
    simnorm_dim: int = 8
    dropout: float = 0.01
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    entropy_coef: float = 1e-4
    lr: float = 3e-4
    enc_lr_scale: float = 0.3
    grad_clip_norm: float = 20.0
    tau: float = 0.01
    rho: float = 0.5
    consistency_coef: float = 20.0
    reward_coef: float = 0.1
    value_coef: float = 0.1
    discount: float | None = None
    episode_length: int = 500
    discount_denom: float = 5.0
    discount_min: float = 0.95
    discount_max: float = 0.995
    horizon: int = 3
    iterations: int = 6
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 24
    min_std: float = 0.05
    max_std: float = 2.0
    temperature: float = 0.5
    #: TD-M(PC)^2 (Lin et al. 2025): weight of the policy prior's negative log-likelihood of the
    #: buffer's (planner-chosen) actions; 0 is plain TD-MPC2, bit for bit.
    policy_constraint: float = 0.0

    def resolved(self) -> TDMPC2Config:
        """A copy with the size fields filled from the ``model_size`` preset."""
        preset: dict[str, int] = {"num_q": 5}
        if self.model_size is not None:
            if self.model_size not in MODEL_SIZES:
                raise ConfigError(
                    f"unknown TD-MPC2 model_size {self.model_size}; expected one of {sorted(MODEL_SIZES)}"
                )
            preset.update(MODEL_SIZES[self.model_size])
        values = {
            k: getattr(self, k) if getattr(self, k) is not None else preset.get(k)
            for k in _SIZE_KEYS
        }
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise ConfigError(f"TD-MPC2 needs {missing} (or a model_size preset)")
        out = dataclasses.replace(self, **values)
        if out.latent_dim % out.simnorm_dim:
            raise ConfigError(
                f"TD-MPC2 latent_dim ({out.latent_dim}) must be a multiple of simnorm_dim ({out.simnorm_dim})"
            )
        if not 1 <= out.num_elites <= out.num_samples or out.num_pi_trajs >= out.num_samples:
            raise ConfigError(
                "TD-MPC2 needs 1 <= num_elites <= num_samples and num_pi_trajs < num_samples; got "
                f"{out.num_elites}, {out.num_samples}, {out.num_pi_trajs}"
            )
        if out.num_q < 2:
            raise ConfigError(
                f"TD-MPC2 needs num_q >= 2 (two heads are subsampled); got {out.num_q}"
            )
        return out

    def gamma(self) -> float:
        """The discount (explicit, or the paper's heuristic from ``episode_length``)."""
        if self.discount is not None:
            return float(self.discount)
        frac = self.episode_length / self.discount_denom
        return float(min(max((frac - 1) / frac, self.discount_min), self.discount_max))


class QHead(nnx.Module):
    """``(z, a) -> logits (K,)``: Linear-Dropout-LN-Mish, Linear-LN-Mish, zero-init Linear."""

    def __init__(self, in_dim: int, hidden: int, out: int, dropout: float, *, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(in_dim, hidden, rngs=rngs)
        self.n1 = nnx.LayerNorm(hidden, rngs=rngs)
        self.l2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.n2 = nnx.LayerNorm(hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, out, kernel_init=nnx.initializers.zeros, rngs=rngs)
        self.dropout = dropout

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        h = self.l1(x)
        if key is not None and self.dropout > 0:
            keep = jax.random.bernoulli(key, 1.0 - self.dropout, h.shape)
            h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
        h = jax.nn.mish(self.n1(h))
        h = jax.nn.mish(self.n2(self.l2(h)))
        return self.out(h)


class SimNormHead(nnx.Module):
    """MLP with a final Linear-LayerNorm-SimNorm layer (encoder and dynamics)."""

    def __init__(
        self, in_dim: int, hidden: tuple[int, ...], out: int, group: int, *, rngs: nnx.Rngs
    ):
        self.mlp = MLP(in_dim, hidden, out, activation="mish", layer_norm=True, rngs=rngs)
        self.norm = nnx.LayerNorm(out, rngs=rngs)
        self.group = group

    def __call__(self, x: jax.Array) -> jax.Array:
        return simnorm(self.norm(self.mlp(x)), self.group)


class WorldModel(nnx.Module):
    """Encoder, latent dynamics, reward head and Q ensemble."""

    def __init__(self, obs_dim: int, action_dim: int, cfg: TDMPC2Config, *, rngs: nnx.Rngs):
        L, M = cfg.latent_dim, cfg.mlp_dim
        self.encoder = SimNormHead(
            obs_dim, (cfg.enc_dim,) * max(cfg.num_enc_layers - 1, 1), L, cfg.simnorm_dim, rngs=rngs
        )
        self.dynamics = SimNormHead(L + action_dim, (M, M), L, cfg.simnorm_dim, rngs=rngs)
        self.reward = MLP(
            L + action_dim, (M, M), cfg.num_bins, activation="mish", layer_norm=True,
            output_scale=0.0, rngs=rngs,
        )  # fmt: skip
        self.qs = Ensemble(
            lambda r: QHead(L + action_dim, M, cfg.num_bins, cfg.dropout, rngs=r),
            cfg.num_q,
            rngs=rngs,
        )

    def encode(self, obs: jax.Array) -> jax.Array:
        """``(..., D) -> (..., L)``."""
        return self.encoder(obs)

    def next(self, z: jax.Array, a: jax.Array) -> jax.Array:
        """Latent dynamics ``(..., L), (..., A) -> (..., L)``."""
        return self.dynamics(jnp.concatenate([z, a], axis=-1))

    def reward_logits(self, z: jax.Array, a: jax.Array) -> jax.Array:
        """Reward logits ``(..., K)``."""
        return self.reward(jnp.concatenate([z, a], axis=-1))

    def q_logits(self, z: jax.Array, a: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Every Q head's logits ``(E, ..., K)`` (dropout when ``key`` is given)."""
        x = jnp.concatenate([z, a], axis=-1)
        if key is None:
            return self.qs(x)
        return self.qs(x, jax.random.split(key, self.qs.size), split=(1,))


class PolicyPrior(nnx.Module):
    """Tanh-Gaussian policy prior on latents."""

    def __init__(self, action_dim: int, cfg: TDMPC2Config, *, rngs: nnx.Rngs):
        self.net = MLP(
            cfg.latent_dim, (cfg.mlp_dim,) * 2, 2 * action_dim, activation="mish", layer_norm=True,
            rngs=rngs,
        )  # fmt: skip
        self.log_std_min = cfg.log_std_min
        self.log_std_max = cfg.log_std_max

    def __call__(self, z: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(mean action, sampled action, log-prob (...,))`` for latents ``(..., L)``."""
        mu, raw = jnp.split(self.net(z), 2, axis=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(raw) + 1.0
        )
        eps = jax.random.normal(key, mu.shape)
        u = mu + eps * jnp.exp(log_std)
        logp = jnp.sum(-0.5 * eps**2 - log_std - 0.5 * _LOG_2PI, axis=-1) - tanh_log_det(u)
        return jnp.tanh(mu), jnp.tanh(u), logp

    def log_prob(self, z: jax.Array, a: jax.Array) -> jax.Array:
        """Log-density ``(...,)`` of actions ``a (..., A)`` in ``[-1, 1]`` at latents ``z``.

        Actions are clipped to ``+-0.999`` first: buffer actions at the bounds would otherwise
        have an infinite pre-tanh value."""
        mu, raw = jnp.split(self.net(z), 2, axis=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            jnp.tanh(raw) + 1.0
        )
        u = jnp.arctanh(jnp.clip(a, -0.999, 0.999))
        eps = (u - mu) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * eps**2 - log_std - 0.5 * _LOG_2PI, axis=-1) - tanh_log_det(u)


class TDMPC2(Agent):
    """TD-MPC2 agent: ``update`` on ``H``-step windows, ``act`` plans with MPPI."""

    model: TrainState
    pi: TrainState
    target_qs: nnx.State
    scale: jax.Array
    rng: jax.Array
    step: jax.Array

    published_returns: ClassVar[Mapping[str, Mapping[int, tuple[float, ...]]]] = PUBLISHED_RETURNS

    # -- what to learn from: H-step windows ---------------------------------------------------

    @property
    def batch_kind(self) -> BatchKind:
        """TD-MPC2 learns its latent model from ``horizon``-step sequences."""
        return "sequences"

    @property
    def min_replay_steps(self) -> int:
        """One ``horizon``-step window plus its next observation."""
        return self.config.horizon + 1

    def sample_batch(
        self, buffer: Any, rng: np.random.Generator, batch_size: int
    ) -> dict[str, np.ndarray]:
        """``batch_size`` windows of ``horizon`` steps inside one episode each."""
        return buffer.sample_sequences(rng, batch_size, self.config.horizon)

    # -- pieces -------------------------------------------------------------------------------

    def support(self) -> Support:
        """Two-hot bins in symlog space."""
        c = self.config
        return Support(c.vmin, c.vmax, c.num_bins, symlog=True)

    def _q(
        self, model: WorldModel, z: jax.Array, a: jax.Array, key: jax.Array, mode: str,
        qs_params: nnx.State | None = None,
    ) -> jax.Array:  # fmt: skip
        """Two randomly chosen heads' values combined by ``min`` or ``avg``: ``(...)``."""
        if qs_params is not None:
            g, _ = nnx.split(model.qs)
            logits = nnx.merge(g, qs_params)(jnp.concatenate([z, a], axis=-1))
        else:
            logits = model.q_logits(z, a)
        idx = jax.random.choice(key, logits.shape[0], (2,), replace=False)
        v = self.support().decode(logits[idx])
        return v.min(0) if mode == "min" else v.mean(0)

    # -- training -----------------------------------------------------------------------------

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[TDMPC2, dict[str, jax.Array]]:
        cfg = self.config
        spec = self.spec
        H = cfg.horizon
        obs = jnp.asarray(batch["observations"], jnp.float32)
        B = obs.shape[0]
        if obs.shape[1] != H + 1:
            raise ValueError(f"TD-MPC2 needs observations (B, {H + 1}, D); got {obs.shape}")
        obs = spec.normalize_obs(obs).transpose(1, 0, 2)  # (H+1, B, D)
        act = spec.normalize_action(jnp.asarray(batch["actions"], jnp.float32)).transpose(1, 0, 2)
        rew = jnp.asarray(batch["rewards"], jnp.float32).reshape(B, H).T  # (H, B)
        gamma = cfg.gamma()
        rng, k_pi_next, k_qt, k_drop, k_pi, k_qpi = jax.random.split(self.rng, 6)
        sup = self.support()
        rho = cfg.rho ** jnp.arange(H, dtype=jnp.float32)

        model = self.model.module()
        pi = self.pi.module()
        next_z = jax.lax.stop_gradient(model.encode(obs[1:]))  # (H, B, L)
        _, pi_next, _ = pi(next_z, k_pi_next)
        q_next = self._q(model, next_z, pi_next, k_qt, "min", qs_params=self.target_qs)
        td = jax.lax.stop_gradient(rew + gamma * q_next)  # (H, B)

        def loss_fn(params: nnx.State) -> tuple[jax.Array, tuple[dict, jax.Array]]:
            m = self.model.module(params)
            z = m.encode(obs[0])
            zs = [z]
            cons = 0.0
            for t in range(H):
                z = m.next(z, act[t])
                cons = cons + rho[t] * jnp.mean((z - next_z[t]) ** 2)
                zs.append(z)
            _zs = jnp.stack(zs[:-1])  # (H, B, L)
            q_logits = m.q_logits(_zs, act, k_drop)  # (E, H, B, K)
            r_logits = m.reward_logits(_zs, act)  # (H, B, K)
            r_loss = jnp.sum(rho * soft_cross_entropy(r_logits, sup.two_hot(rew)).mean(-1))
            v_ce = soft_cross_entropy(q_logits, sup.two_hot(td)[None]).mean(-1)  # (E, H)
            v_loss = jnp.sum(rho[None] * v_ce)
            cons, r_loss = cons / H, r_loss / H
            v_loss = v_loss / (H * q_logits.shape[0])
            total = cfg.consistency_coef * cons + cfg.reward_coef * r_loss + cfg.value_coef * v_loss
            info = {"consistency_loss": cons, "reward_loss": r_loss, "value_loss": v_loss}
            return total, (info, jnp.stack(zs))

        (total, (info, zs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(self.model.params)
        model_state = self.model.apply_gradients(grads)
        model = model_state.module()

        # Policy prior on the (detached) latent rollout, with the updated (frozen) Q heads.
        zs = jax.lax.stop_gradient(zs)  # (H+1, B, L)
        q0 = self._q(model, zs[0], pi(zs[0], k_pi)[1], k_qpi, "avg")
        lo, hi = jnp.percentile(q0, 5.0), jnp.percentile(q0, 95.0)
        scale = (1 - cfg.tau) * self.scale + cfg.tau * jnp.maximum(hi - lo, 1.0)
        rho_pi = cfg.rho ** jnp.arange(H + 1, dtype=jnp.float32)

        def pi_loss_fn(pp: nnx.State) -> tuple[jax.Array, dict]:
            prior = self.pi.module(pp)
            _, a, logp = prior(zs, k_pi)
            q = self._q(model, zs, a, k_qpi, "avg") / scale
            per_t = jnp.mean(cfg.entropy_coef * logp - q, axis=-1)  # (H+1,)
            loss = jnp.mean(per_t * rho_pi)
            info = {"pi_entropy": -jnp.mean(logp)}
            if cfg.policy_constraint:  # a Python branch: weight 0 traces plain TD-MPC2 exactly
                bc = -jnp.mean(prior.log_prob(zs[:H], act), axis=-1)  # (H,) planner actions
                bc = jnp.mean(bc * rho_pi[:H])
                loss = loss + cfg.policy_constraint * bc
                info["pi_constraint_nll"] = bc
            return loss, info

        (pi_loss, pi_info), pi_grads = jax.value_and_grad(pi_loss_fn, has_aux=True)(self.pi.params)
        pi_state = self.pi.apply_gradients(pi_grads)
        target_qs = optax.incremental_update(model_state.params["qs"], self.target_qs, cfg.tau)
        info = {
            **info,
            **pi_info,
            "total_loss": total,
            "pi_loss": pi_loss,
            "grad_norm": global_norm(grads),
            "pi_scale": scale,
            "td_target": jnp.mean(td),
        }
        new = self.replace(
            model=model_state, pi=pi_state, target_qs=target_qs, scale=scale, rng=rng,
            step=self.step + 1,
        )  # fmt: skip
        return new, info

    # -- planning -----------------------------------------------------------------------------

    def _plan_one(
        self, z: jax.Array, prev_mean: jax.Array, first: jax.Array, key: jax.Array,
        deterministic: bool,
    ) -> tuple[jax.Array, jax.Array]:  # fmt: skip
        """MPPI from one latent ``z (L,)``: ``(action (A,), mean (H, A))``."""
        cfg = self.config
        H, A = cfg.horizon, self.spec.flat_action_dim
        N, Np, E = cfg.num_samples, cfg.num_pi_trajs, cfg.num_elites
        gamma = cfg.gamma()
        model = self.model.module()
        pi = self.pi.module()
        k_pi, k_it, k_sel, k_noise = jax.random.split(key, 4)

        def value(actions: jax.Array, k: jax.Array) -> jax.Array:  # actions (H, N, A)
            zz = jnp.broadcast_to(z, (actions.shape[1], z.shape[-1]))
            G, disc = 0.0, 1.0
            for t in range(H):
                G = G + disc * self.support().decode(model.reward_logits(zz, actions[t]))
                zz = model.next(zz, actions[t])
                disc = disc * gamma
            k1, k2 = jax.random.split(k)
            return G + disc * self._q(model, zz, pi(zz, k1)[1], k2, "avg")

        pi_actions = jnp.zeros((H, 0, A))
        if Np:
            zz = jnp.broadcast_to(z, (Np, z.shape[-1]))
            acts = []
            for t, kt in enumerate(jax.random.split(k_pi, H)):
                a = pi(zz, kt)[1]
                acts.append(a)
                if t < H - 1:
                    zz = model.next(zz, a)
            pi_actions = jnp.stack(acts)  # (H, Np, A)

        shifted = jnp.concatenate([prev_mean[1:], jnp.zeros((1, A))], axis=0)
        mean = jnp.where(first, jnp.zeros((H, A)), shifted)
        std = jnp.full((H, A), cfg.max_std)

        def iteration(carry: tuple, k: jax.Array) -> tuple[tuple, None]:
            mean, std, _, _ = carry
            k_s, k_v = jax.random.split(k)
            noise = jax.random.normal(k_s, (H, N - Np, A))
            sampled = jnp.clip(mean[:, None] + std[:, None] * noise, -1.0, 1.0)
            actions = jnp.concatenate([pi_actions, sampled], axis=1)  # (H, N, A)
            v = jnp.nan_to_num(value(actions, k_v))
            elite_v, idx = jax.lax.top_k(v, E)
            elites = actions[:, idx]  # (H, E, A)
            score = jax.nn.softmax(cfg.temperature * (elite_v - elite_v.max()))
            mean = jnp.einsum("e,hea->ha", score, elites)
            std = jnp.sqrt(jnp.einsum("e,hea->ha", score, (elites - mean[:, None]) ** 2))
            std = jnp.clip(std, cfg.min_std, cfg.max_std)
            return (mean, std, score, elites), None

        init = (mean, std, jnp.full((E,), 1.0 / E), jnp.zeros((H, E, A)))
        (mean, std, score, elites), _ = jax.lax.scan(
            iteration, init, jax.random.split(k_it, cfg.iterations)
        )
        choice = jax.random.categorical(k_sel, jnp.log(score + 1e-12))
        a = elites[0, choice]
        if not deterministic:
            a = a + std[0] * jax.random.normal(k_noise, (A,))
        return jnp.clip(a, -1.0, 1.0), mean

    @functools.partial(jax.jit, static_argnames=("deterministic",))
    def plan(
        self, obs: jax.Array, prev_mean: jax.Array, first: jax.Array, rng: jax.Array,
        deterministic: bool = False,
    ) -> tuple[jax.Array, jax.Array]:  # fmt: skip
        """Plan for a batch: ``obs (B, D)`` (env units), ``prev_mean (B, H, A)``, ``first (B,)``
        -> ``(actions (B, A) in env units, new means)``."""
        z = self.model.module().encode(self.spec.flatten_obs(obs))
        keys = jax.random.split(rng, obs.shape[0])
        a, mean = jax.vmap(lambda zz, pm, f, k: self._plan_one(zz, pm, f, k, deterministic))(
            z, prev_mean, first, keys
        )
        return self.spec.denormalize_action(a), mean

    def init_act_state(self, batch_size: int) -> jax.Array:
        """Zero warm-start means ``(B, H, A)``."""
        return jnp.zeros((batch_size, self.config.horizon, self.spec.flat_action_dim))

    def act(
        self, obs: jax.Array, rng: jax.Array, state: Any, *, first: jax.Array | None = None,
        deterministic: bool = False,
    ) -> tuple[jax.Array, Any]:  # fmt: skip
        """Plan one action per observation; ``state`` is the warm-start mean."""
        obs = jnp.asarray(obs, jnp.float32)
        first = jnp.ones(obs.shape[0], bool) if first is None else jnp.asarray(first, bool)
        return self.plan(obs, state, first, rng, deterministic)

    @jax.jit
    def predicted_q(self, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """The mean over all Q heads of ``Q(encode(obs), a)`` ``(B,)`` for raw observations
        ``(B, D)`` and environment-unit actions ``(B, A)``: what the agent expects the
        discounted return from ``obs`` to be (compared with observed returns to measure value
        overestimation, ``benchmarks/rl_tdmpc2_overestimation.py``)."""
        model = self.model.module()
        z = model.encode(self.spec.normalize_obs(jnp.asarray(obs, jnp.float32)))
        a = self.spec.normalize_action(jnp.asarray(actions, jnp.float32))
        return self.support().decode(model.q_logits(z, a)).mean(0)

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        """``n`` samples of the policy prior (planning needs ``act``)."""
        z = self.model.module().encode(obs)
        zz = jnp.broadcast_to(z[:, None], (z.shape[0], n, z.shape[-1]))
        mu, a, _ = self.pi.module()(zz, rng)
        return mu if deterministic else a


def tdmpc2_config(config: Mapping[str, Any] | TDMPC2Config | None) -> TDMPC2Config:
    """A :class:`TDMPC2Config` from overrides (size fields resolved from the preset)."""
    if isinstance(config, TDMPC2Config):
        return config.resolved()
    return make_config(TDMPC2Config, config, where="tdmpc2").resolved()


def create_tdmpc2(
    spec: Spec, config: Mapping[str, Any] | TDMPC2Config | None, rng: jax.Array
) -> TDMPC2:
    """A fresh TD-MPC2 agent (``spec.action_horizon`` and ``obs_horizon`` must be 1)."""
    cfg = tdmpc2_config(config)
    if spec.action_horizon != 1 or spec.obs_horizon != 1:
        raise ConfigError("TD-MPC2 plans single actions from single observations (horizons 1)")
    k_m, k_p, k_rng = jax.random.split(rng, 3)
    model = WorldModel(spec.flat_obs_dim, spec.flat_action_dim, cfg, rngs=nnx.Rngs(k_m))
    pi = PolicyPrior(spec.flat_action_dim, cfg, rngs=nnx.Rngs(k_p))
    _, params, _ = nnx.split(model, nnx.Param, ...)

    def label(path: tuple, _: Any) -> str:
        return "encoder" if getattr(path[0], "key", None) == "encoder" else "rest"

    labels = jax.tree_util.tree_map_with_path(label, params)
    tx = optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip_norm),
        optax.multi_transform(
            {"encoder": optax.adam(cfg.lr * cfg.enc_lr_scale), "rest": optax.adam(cfg.lr)},
            labels,
        ),
    )
    pi_tx = make_optimizer(cfg.lr, eps=1e-5, grad_clip=cfg.grad_clip_norm)
    model_state = TrainState.create(model, tx)
    return TDMPC2(
        name="tdmpc2",
        spec=spec,
        config=cfg,
        model=model_state,
        pi=TrainState.create(pi, pi_tx),
        target_qs=jax.tree.map(lambda x: x, model_state.params["qs"]),
        scale=jnp.ones((), jnp.float32),
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
