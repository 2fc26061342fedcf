"""Soft actor-critic for the tanh-Gaussian policy with an ensemble critic and learned temperature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from sensorimotor.agents.base import Agent
from sensorimotor.agents.critics import (
    Critic,
    CriticConfig,
    CriticType,
    Reduction,
    create_critic,
    critic_config,
)
from sensorimotor.core.errors import ConfigError
from sensorimotor.learners.config import build_config
from sensorimotor.learners.spec import Spec
from sensorimotor.learners.state import global_norm
from sensorimotor.policies.factory import PolicyConfig, PolicyType, create_policy, policy_config
from sensorimotor.policies.policy import Policy


@dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters. ``target_entropy=None`` means ``-action_dim``."""

    policy_type: PolicyType = "gaussian"
    policy: PolicyConfig | None = None
    critic_type: CriticType = "ensemble"
    critic: CriticConfig | None = None
    gamma: float = 0.99
    init_temperature: float = 1.0
    target_entropy: float | None = None
    temp_lr: float = 3e-4
    backup_entropy: bool = True
    actor_reduce: Reduction = "mean"


class SAC(Agent):
    """SAC (Haarnoja et al. 2018) with clipped double-Q style ensemble targets."""

    policy: Policy
    critic: Critic
    log_alpha: jax.Array
    alpha_opt: Any
    rng: jax.Array
    step: jax.Array

    def _alpha_tx(self) -> optax.GradientTransformation:
        return optax.adam(self.config.temp_lr)

    def target_entropy(self) -> float:
        """Entropy target (default ``-Da``)."""
        te = self.config.target_entropy
        return -float(self.spec.flat_action_dim) if te is None else te

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[SAC, dict[str, jax.Array]]:
        cfg = self.config
        t = self.transitions(batch, gamma=cfg.gamma)
        rng, k_next, k_red, k_pi, k_red2 = jax.random.split(self.rng, 5)
        alpha = jnp.exp(self.log_alpha)
        pi = self.policy

        # Critic
        next_a, next_logp = pi.module().sample_and_log_prob(t.next_obs, k_next, 1)
        q_next = self.critic.reduce(self.critic.target_values(t.next_obs, next_a[:, 0]), k_red)
        if cfg.backup_entropy:
            q_next = q_next - alpha * next_logp[:, 0]
        target = t.rewards + t.discounts * q_next
        critic, c_info = self.critic.fit(t.obs, t.actions, target)

        # Actor
        def actor_loss(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            a, logp = pi.module(params).sample_and_log_prob(t.obs, k_pi, 1)
            q = critic.reduce(critic.values(t.obs, a[:, 0]), k_red2, cfg.actor_reduce)
            loss = jnp.mean(alpha * logp[:, 0] - q)
            return loss, {"entropy": -jnp.mean(logp), "q_pi": jnp.mean(q)}

        (a_loss, a_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(pi.net.params)
        policy = pi.replace(net=pi.net.apply_gradients(grads), step=pi.step + 1)

        # Temperature
        entropy = a_info["entropy"]

        def temp_loss(log_alpha: jax.Array) -> jax.Array:
            return jnp.exp(log_alpha) * jax.lax.stop_gradient(entropy - self.target_entropy())

        t_loss, t_grad = jax.value_and_grad(temp_loss)(self.log_alpha)
        upd, alpha_opt = self._alpha_tx().update(t_grad, self.alpha_opt, self.log_alpha)
        log_alpha = optax.apply_updates(self.log_alpha, upd)

        info = {
            **{f"critic/{k}": v for k, v in c_info.items()},
            "actor/loss": a_loss,
            "actor/grad_norm": global_norm(grads),
            **{f"actor/{k}": v for k, v in a_info.items()},
            "temperature/alpha": alpha,
            "temperature/loss": t_loss,
        }
        new = self.replace(
            policy=policy,
            critic=critic,
            log_alpha=log_alpha,
            alpha_opt=alpha_opt,
            rng=rng,
            step=self.step + 1,
        )
        return new, info

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        return self.policy.module().sample(obs, rng, n, deterministic=deterministic)


def sac_config(config: Mapping[str, Any] | SACConfig | None) -> SACConfig:
    """A :class:`SACConfig` from overrides."""
    return build_config(
        SACConfig,
        config,
        {"policy": ("policy_type", policy_config), "critic": ("critic_type", critic_config)},
    )


def create_sac(spec: Spec, config: Mapping[str, Any] | SACConfig | None, rng: jax.Array) -> SAC:
    """A fresh SAC agent."""
    cfg = sac_config(config)
    if cfg.policy_type != "gaussian":
        raise ConfigError(
            f"SAC needs a policy with log-densities (policy_type='gaussian'); got "
            f"{cfg.policy_type!r}. Use algo=pa_rl for diffusion or autoregressive policies."
        )
    k_pi, k_q, k_rng = jax.random.split(rng, 3)
    log_alpha = jnp.asarray(jnp.log(cfg.init_temperature), jnp.float32)
    return SAC(
        name="sac",
        spec=spec,
        config=cfg,
        policy=create_policy(cfg.policy_type, spec, config=cfg.policy, rng=k_pi),
        critic=create_critic(cfg.critic_type, spec, config=cfg.critic, rng=k_q),
        log_alpha=log_alpha,
        alpha_opt=optax.adam(cfg.temp_lr).init(log_alpha),
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
