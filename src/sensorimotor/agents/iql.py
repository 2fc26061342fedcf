"""Implicit Q-learning (Kostrikov et al. 2021): offline RL with any policy class.

The critic never queries the policy: ``V`` is fitted by expectile regression to the target ``Q``
of dataset actions, ``Q`` by TD onto ``r + gamma V(s')``. The policy is extracted by
advantage-weighted regression through its *own* supervised loss (``weights = exp(beta * A)``),
so Gaussian, diffusion and autoregressive policies all work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from sensorimotor.agents.base import Agent
from sensorimotor.agents.critics import (
    Critic,
    CriticConfig,
    CriticType,
    create_critic,
    critic_config,
)
from sensorimotor.learners.config import build_config
from sensorimotor.learners.spec import Spec
from sensorimotor.policies.factory import PolicyConfig, PolicyType, create_policy, policy_config
from sensorimotor.policies.policy import Policy


@dataclass(frozen=True)
class IQLConfig:
    """IQL hyperparameters: ``expectile`` for ``V``, ``beta`` (inverse temperature) for AWR."""

    policy_type: PolicyType = "gaussian"
    policy: PolicyConfig | None = None
    critic_type: CriticType = "ensemble"
    critic: CriticConfig | None = None
    value: CriticConfig | None = None
    gamma: float = 0.99
    expectile: float = 0.7
    beta: float = 3.0
    max_weight: float = 100.0


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """Asymmetric squared loss ``|tau - 1[diff < 0]| * diff^2`` (elementwise)."""
    w = jnp.where(diff > 0, expectile, 1 - expectile)
    return w * diff**2


def fit_value_expectile(
    value: Critic, obs: jax.Array, q_target: jax.Array, expectile: float
) -> tuple[Critic, dict[str, jax.Array]]:
    """One expectile-regression step of a state-value critic ``V(obs)`` onto ``q_target (B,)``."""

    def loss(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
        v = value.values_fn(params, obs, None).mean(0)
        return jnp.mean(expectile_loss(q_target - v, expectile)), {"v": jnp.mean(v)}

    return value.fit_with(loss)


class IQL(Agent):
    """IQL with a policy-agnostic AWR extraction step."""

    policy: Policy
    critic: Critic
    value: Critic
    rng: jax.Array
    step: jax.Array

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[IQL, dict[str, jax.Array]]:
        cfg = self.config
        t = self.transitions(batch, gamma=cfg.gamma)
        rng, k_q = jax.random.split(self.rng)
        q_t = self.critic.reduce(self.critic.target_values(t.obs, t.actions), k_q, "min")
        value, v_info = fit_value_expectile(self.value, t.obs, q_t, cfg.expectile)
        next_v = value.values(t.next_obs, None).mean(0)
        critic, c_info = self.critic.fit(t.obs, t.actions, t.rewards + t.discounts * next_v)
        adv = q_t - value.values(t.obs, None).mean(0)
        weights = jnp.minimum(jnp.exp(cfg.beta * adv), cfg.max_weight)
        policy, p_info = self.policy.fit(t.obs, t.actions, jax.lax.stop_gradient(weights))
        info = {
            **{f"critic/{k}": v for k, v in c_info.items()},
            **{f"value/{k}": v for k, v in v_info.items()},
            **{f"policy/{k}": v for k, v in p_info.items()},
            "policy/adv": jnp.mean(adv),
            "policy/weight": jnp.mean(weights),
        }
        return self.replace(
            policy=policy, critic=critic, value=value, rng=rng, step=self.step + 1
        ), info

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        kw = {"deterministic": True} if deterministic else {}
        return self.policy.sample_fn(self.policy.net.params, obs, rng, n, **kw)


def value_config(_: str, config: Mapping[str, Any] | None) -> Any:
    """The config of a state-value critic (``use_action=False``)."""
    return critic_config("q", {**dict(config or {}), "use_action": False})


def iql_config(config: Mapping[str, Any] | IQLConfig | None) -> IQLConfig:
    """An :class:`IQLConfig` from overrides."""
    cfg = build_config(
        IQLConfig,
        config,
        {
            "policy": ("policy_type", policy_config),
            "critic": ("critic_type", critic_config),
            "value": ("critic_type", value_config),
        },
    )
    return cfg


def create_iql(spec: Spec, config: Mapping[str, Any] | IQLConfig | None, rng: jax.Array) -> IQL:
    """A fresh IQL agent."""
    cfg = iql_config(config)
    k_pi, k_q, k_v, k_rng = jax.random.split(rng, 4)
    return IQL(
        name="iql",
        spec=spec,
        config=cfg,
        policy=create_policy(cfg.policy_type, spec, config=cfg.policy, rng=k_pi),
        critic=create_critic(cfg.critic_type, spec, config=cfg.critic, rng=k_q),
        value=create_critic("q", spec, config=cfg.value, rng=k_v),
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
