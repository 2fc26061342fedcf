"""Policy-agnostic RL (PA-RL, Mark et al. 2024): critic-guided action optimisation + distillation.

Acting and training both use the *optimised* action of a state:

1. global step: sample ``num_samples`` actions from the base policy (any class; diffusion
   samples may additionally be critic-guided with ``guidance_scale``), keep the ``top_k`` by Q;
2. local step: ``grad_steps`` steps of gradient ascent on Q w.r.t. the actions, clipped to the
   action box;
3. pick one by ``argmax`` (or ``softmax`` over ``Q / select_temperature``).

The base policy is then trained by its own supervised loss on the optimised actions
(``distill_coef``) and on dataset actions (``bc_coef``). The critic learns by TD with a
sample-max backup over base-policy actions (``critic_loss="td"``) or by IQL's expectile
regression (``critic_loss="iql"``, no policy queries; for offline data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp

from sensorimotor.agents.base import Agent
from sensorimotor.agents.critics import (
    Critic,
    CriticConfig,
    CriticType,
    Reduction,
    create_critic,
    critic_config,
)
from sensorimotor.agents.iql import fit_value_expectile, value_config
from sensorimotor.learners.config import build_config
from sensorimotor.learners.spec import Spec
from sensorimotor.policies.factory import PolicyConfig, PolicyType, create_policy, policy_config
from sensorimotor.policies.policy import Policy


@dataclass(frozen=True)
class PARLConfig:
    """PA-RL hyperparameters (see the module docstring).

    ``guidance_normalize`` uses the unit-length critic gradient for guidance (the scale is then a
    step length rather than a multiple of the critic's slope).
    ``distill_batch`` optimises actions for only the first ``distill_batch`` states of each batch
    (optimisation is the costly part); ``None`` uses the whole batch. ``cql_alpha > 0`` adds a
    conservative (CQL-style) penalty to the critic: ``alpha * (T logsumexp(Q(s, a_rand) / T) -
    Q(s, a_data))`` over ``cql_samples`` uniform random actions, which keeps out-of-distribution
    actions from looking better than the data (offline pretraining, as Cal-QL does in PA-RL).
    """

    policy_type: PolicyType = "diffusion"
    policy: PolicyConfig | None = None
    critic_type: CriticType = "ensemble"
    critic: CriticConfig | None = None
    value: CriticConfig | None = None
    gamma: float = 0.99
    num_samples: int = 16
    top_k: int = 4
    grad_steps: int = 5
    grad_lr: float = 0.01
    select: Literal["argmax", "softmax"] = "argmax"
    select_temperature: float = 1.0
    q_reduce: Reduction = "mean"
    guidance_scale: float = 0.0
    guidance_normalize: bool = False
    critic_loss: Literal["td", "iql"] = "td"
    backup_samples: int = 4
    expectile: float = 0.7
    cql_alpha: float = 0.0
    cql_samples: int = 8
    cql_temperature: float = 1.0
    bc_coef: float = 1.0
    distill_coef: float = 1.0
    distill_batch: int | None = 32

    def __post_init__(self) -> None:
        if self.select not in ("argmax", "softmax"):
            raise ValueError(f"PA-RL select must be 'argmax' or 'softmax', got {self.select!r}")
        if self.critic_loss not in ("td", "iql"):
            raise ValueError(f"PA-RL critic_loss must be 'td' or 'iql', got {self.critic_loss!r}")
        if not 1 <= self.top_k <= self.num_samples:
            raise ValueError(
                f"PA-RL needs 1 <= top_k <= num_samples, got top_k={self.top_k}, "
                f"num_samples={self.num_samples}"
            )
        if self.guidance_scale and self.policy_type != "diffusion":
            raise ValueError(
                f"guidance_scale needs policy_type='diffusion'; got {self.policy_type!r}"
            )


def optimize_actions(
    policy: Policy,
    critic: Critic,
    obs: jax.Array,
    rng: jax.Array,
    cfg: PARLConfig,
    *,
    explore: bool = True,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PA-RL's optimised action ``(B, Da)`` per flat observation ``(B, Do)`` (normalised units).

    ``info`` has the Q of the raw samples, of the selected actions before and after gradient
    steps (means over the batch).
    """
    k_s, k_sel = jax.random.split(rng)
    B = obs.shape[0]
    mode = cfg.q_reduce
    dummy = jax.random.PRNGKey(0)

    def q_of(o: jax.Array, a: jax.Array) -> jax.Array:
        return critic.reduce(critic.values(o, a), dummy, mode)

    kw: dict[str, Any] = {}
    if cfg.guidance_scale:

        def guidance(o: jax.Array, a: jax.Array) -> jax.Array:
            g = critic.action_grad(o, a, mode)
            if cfg.guidance_normalize:
                g = g / (jnp.linalg.norm(g, axis=-1, keepdims=True) + 1e-6)
            return g

        kw = {"guidance_fn": guidance, "guidance_scale": cfg.guidance_scale}
    cands = policy.sample_fn(policy.net.params, obs, k_s, cfg.num_samples, **kw)  # (B, N, Da)
    obs_n = jnp.broadcast_to(obs[:, None], (B, cfg.num_samples, obs.shape[-1]))
    q = q_of(obs_n, cands)  # (B, N)
    top_q, idx = jax.lax.top_k(q, cfg.top_k)
    a = jnp.take_along_axis(cands, idx[..., None], axis=1)  # (B, k, Da)
    obs_k = obs_n[:, : cfg.top_k]
    q_before = top_q

    def ascend(a: jax.Array, _: None) -> tuple[jax.Array, None]:
        g = jax.grad(lambda x: q_of(obs_k, x).sum())(a)
        return jnp.clip(a + cfg.grad_lr * g, -1.0, 1.0), None

    if cfg.grad_steps:
        a, _ = jax.lax.scan(ascend, a, None, length=cfg.grad_steps)
    q_after = q_of(obs_k, a)
    # Select among the optimised actions *and* the samples they came from, so that a gradient
    # step that went downhill (a too large grad_lr) can never make the choice worse.
    pool = jnp.concatenate([a, jnp.take_along_axis(cands, idx[..., None], axis=1)], axis=1)
    pool_q = jnp.concatenate([q_after, q_before], axis=1)
    if cfg.select == "softmax" and explore:
        choice = jax.random.categorical(k_sel, pool_q / cfg.select_temperature, axis=-1)
    else:
        choice = jnp.argmax(pool_q, axis=-1)
    best = jnp.take_along_axis(pool, choice[:, None, None], axis=1)[:, 0]
    chosen_q = jnp.take_along_axis(pool_q, choice[:, None], axis=1)[:, 0]
    info = {
        "q_samples": jnp.mean(q),
        "q_topk": jnp.mean(q_before),
        "q_optimized": jnp.mean(q_after),
        "q_selected": jnp.mean(chosen_q),
    }
    del B
    return jax.lax.stop_gradient(best), info


class PARL(Agent):
    """PA-RL agent: any base policy + critic, acting with optimised actions."""

    policy: Policy
    critic: Critic
    value: Critic | None
    rng: jax.Array
    step: jax.Array

    def _critic_step(self, t: Any, rng: jax.Array) -> tuple[Critic, Critic | None, dict]:
        cfg = self.config
        disc = t.discounts
        if cfg.critic_loss == "iql":
            k_q = rng
            q_t = self.critic.reduce(self.critic.target_values(t.obs, t.actions), k_q, "min")
            value, v_info = fit_value_expectile(self.value, t.obs, q_t, cfg.expectile)
            next_v = value.values(t.next_obs, None).mean(0)
            critic, c_info = self.critic.fit(t.obs, t.actions, t.rewards + disc * next_v)
            return critic, value, {**c_info, **{f"v_{k}": v for k, v in v_info.items()}}
        k_s, k_r, k_c = jax.random.split(rng, 3)
        n = cfg.backup_samples
        next_a = self.policy.sample_fn(self.policy.net.params, t.next_obs, k_s, n)  # (B, n, Da)
        nobs = jnp.broadcast_to(t.next_obs[:, None], (*next_a.shape[:2], t.next_obs.shape[-1]))
        q_next = self.critic.reduce(self.critic.target_values(nobs, next_a), k_r).max(-1)
        targets = t.rewards + disc * q_next
        if not cfg.cql_alpha:
            critic, c_info = self.critic.fit(t.obs, t.actions, targets)
            return critic, self.value, c_info
        B, Da = t.actions.shape
        rand = jax.random.uniform(k_c, (B, cfg.cql_samples, Da), minval=-1.0, maxval=1.0)
        robs = jnp.broadcast_to(t.obs[:, None], (B, cfg.cql_samples, t.obs.shape[-1]))
        temp = cfg.cql_temperature

        def loss(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            td, info = self.critic.loss_fn(params, t.obs, t.actions, targets)
            q_rand = self.critic.values_fn(params, robs, rand)  # (E, B, n)
            q_data = self.critic.values_fn(params, t.obs, t.actions)  # (E, B)
            push_down = temp * jax.scipy.special.logsumexp(q_rand / temp, axis=-1)
            gap = jnp.mean(push_down - q_data)
            return td + cfg.cql_alpha * gap, {**info, "td_loss": td, "cql_gap": gap}

        critic, c_info = self.critic.fit_with(loss)
        return critic, self.value, c_info

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[PARL, dict[str, jax.Array]]:
        cfg = self.config
        t = self.transitions(batch, gamma=cfg.gamma)
        rng, k_c, k_opt = jax.random.split(self.rng, 3)
        critic, value, c_info = self._critic_step(t, k_c)

        info: dict[str, jax.Array] = {f"critic/{k}": v for k, v in c_info.items()}
        obs_l, act_l, w_l = [], [], []
        if cfg.distill_coef:
            m = (
                t.obs.shape[0]
                if cfg.distill_batch is None
                else min(cfg.distill_batch, t.obs.shape[0])
            )
            opt_a, o_info = optimize_actions(self.policy, critic, t.obs[:m], k_opt, cfg)
            info.update({f"optimize/{k}": v for k, v in o_info.items()})
            obs_l.append(t.obs[:m])
            act_l.append(opt_a)
            w_l.append(jnp.full((m,), cfg.distill_coef))
        if cfg.bc_coef:
            obs_l.append(t.obs)
            act_l.append(t.actions)
            w_l.append(jnp.full((t.obs.shape[0],), cfg.bc_coef))
        policy = self.policy
        if obs_l:
            w = jnp.concatenate(w_l)
            policy, p_info = policy.fit(
                jnp.concatenate(obs_l), jnp.concatenate(act_l), w * (w.shape[0] / w.sum())
            )
            info.update({f"policy/{k}": v for k, v in p_info.items()})
        return self.replace(
            policy=policy, critic=critic, value=value, rng=rng, step=self.step + 1
        ), info

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        keys = jax.random.split(rng, n)
        acts = [
            optimize_actions(
                self.policy, self.critic, obs, k, self.config, explore=not deterministic
            )[0]
            for k in keys
        ]
        return jnp.stack(acts, axis=1)


def pa_rl_config(config: Mapping[str, Any] | PARLConfig | None) -> PARLConfig:
    """A :class:`PARLConfig` from overrides."""
    return build_config(
        PARLConfig,
        config,
        {
            "policy": ("policy_type", policy_config),
            "critic": ("critic_type", critic_config),
            "value": ("critic_type", value_config),
        },
    )


def create_pa_rl(spec: Spec, config: Mapping[str, Any] | PARLConfig | None, rng: jax.Array) -> PARL:
    """A fresh PA-RL agent."""
    cfg = pa_rl_config(config)
    k_pi, k_q, k_v, k_rng = jax.random.split(rng, 4)
    value = (
        create_critic("q", spec, config=cfg.value, rng=k_v) if cfg.critic_loss == "iql" else None
    )
    return PARL(
        name="pa_rl",
        spec=spec,
        config=cfg,
        policy=create_policy(cfg.policy_type, spec, config=cfg.policy, rng=k_pi),
        critic=create_critic(cfg.critic_type, spec, config=cfg.critic, rng=k_q),
        value=value,
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
