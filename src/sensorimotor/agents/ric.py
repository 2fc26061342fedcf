"""RIC: an offline diffusion policy with a critic term and an inverse-dynamics constraint.

Each update trains three parts on the same batch of dataset transitions ``(s, a, r, s')``:

1. the inverse-dynamics model ``g(s, s') ~ a`` (:mod:`.inverse_dynamics`, MSE);
2. an IQL critic (expectile ``V``, TD ``Q``; it never queries the policy, so out-of-data actions
   never enter its targets), reusing :mod:`.iql` and :mod:`.critics`;
3. the diffusion policy, by

       L = L_denoise - alpha * Q(s, a0_hat) / mean|Q| + lambda(step) * abar_k |a0_hat - g(s, s')|^2

   where ``a0_hat`` is the one-step clean-action estimate of the denoiser from the dataset
   action noised to a random timestep ``k`` (the same ``x_k``, ``k`` and noise as the denoising
   loss): ``a0_hat = (x_k - sqrt(1 - abar_k) eps(x_k, s, k)) / sqrt(abar_k)``, clipped to
   ``[-1, 1]``; ``abar_k`` weights the constraint by how much of the action ``x_k`` still holds.
``mean|Q|`` is the batch mean, not differentiated (TD3+BC's normalisation), so
   ``alpha`` is free of the reward scale.

Why the one-step estimate (and not a differentiable DDIM chain from noise): it costs one network
call and no backpropagation through a sampling chain, and it is *paired* with its transition,
since ``x_k`` comes from that transition's action. The constraint then pulls each estimate
toward the action that explains its own transition; a sample drawn from pure noise would be
compared with a random mode of multimodal data and pulled toward the modes' average, out of the
data's support. ``lambda(step)`` decays from ``constraint_weight`` to ``constraint_final`` over
``constraint_steps`` updates (``constant`` / ``linear`` / ``cosine``): the constraint dominates
while the critic is still inaccurate, and is relaxed once ``Q`` can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp

from sensorimotor.agents.base import Agent, Transitions
from sensorimotor.agents.critics import (
    Critic,
    CriticConfig,
    CriticType,
    Reduction,
    create_critic,
    critic_config,
)
from sensorimotor.agents.inverse_dynamics import InverseDynamics, create_inverse_dynamics
from sensorimotor.agents.iql import fit_value_expectile, value_config
from sensorimotor.learners.config import build_config
from sensorimotor.learners.spec import Spec
from sensorimotor.learners.state import global_norm
from sensorimotor.nn import diffusion as dfn
from sensorimotor.policies.factory import PolicyConfig, create_policy, policy_config
from sensorimotor.policies.policy import Policy

#: How the constraint weight moves from ``constraint_weight`` to ``constraint_final``.
ConstraintSchedule = Literal["constant", "linear", "cosine"]


@dataclass(frozen=True)
class RICConfig:
    """RIC hyperparameters (see the module docstring for the objective).

    ``alpha``: weight of the normalised critic term; ``constraint_weight`` -> ``constraint_final``
    over ``constraint_steps`` updates by ``constraint_schedule``: the inverse-dynamics constraint
    weight ``lambda``; ``idm_hidden`` / ``idm_lr``: the inverse-dynamics MLP.
    """

    policy_type: Literal["diffusion"] = "diffusion"
    policy: PolicyConfig | None = None
    critic_type: CriticType = "ensemble"
    critic: CriticConfig | None = None
    value: CriticConfig | None = None
    gamma: float = 0.99
    expectile: float = 0.7
    q_reduce: Reduction = "min"
    alpha: float = 1.0
    constraint_weight: float = 1.0
    constraint_final: float = 0.1
    constraint_schedule: ConstraintSchedule = "linear"
    constraint_steps: int = 10_000
    idm_hidden: tuple[int, ...] = (256, 256)
    idm_lr: float = 3e-4

    def __post_init__(self) -> None:
        if self.policy_type != "diffusion":
            raise ValueError(f"RIC trains a diffusion policy; got policy_type={self.policy_type!r}")
        if self.constraint_schedule not in ("constant", "linear", "cosine"):
            raise ValueError(
                "constraint_schedule must be 'constant', 'linear' or 'cosine', got "
                f"{self.constraint_schedule!r}"
            )
        if self.constraint_steps < 1:
            raise ValueError(f"constraint_steps must be >= 1, got {self.constraint_steps}")
        if self.constraint_weight < 0 or self.constraint_final < 0 or self.alpha < 0:
            raise ValueError(
                "alpha, constraint_weight and constraint_final must be >= 0; got "
                f"{self.alpha}, {self.constraint_weight}, {self.constraint_final}"
            )


def constraint_weight(cfg: RICConfig, step: jax.Array) -> jax.Array:
    """``lambda(step)``: the constraint weight after ``step`` updates."""
    frac = jnp.minimum(jnp.asarray(step, jnp.float32) / cfg.constraint_steps, 1.0)
    start, end = cfg.constraint_weight, cfg.constraint_final
    if cfg.constraint_schedule == "constant":
        return jnp.asarray(start, jnp.float32)
    if cfg.constraint_schedule == "linear":
        return start + (end - start) * frac
    return end + (start - end) * 0.5 * (1.0 + jnp.cos(math.pi * frac))


class RIC(Agent):
    """RIC agent: diffusion policy + IQL critic + inverse-dynamics constraint (offline)."""

    policy: Policy
    critic: Critic
    value: Critic
    idm: InverseDynamics
    rng: jax.Array
    step: jax.Array

    def _critic_step(self, t: Transitions, rng: jax.Array) -> tuple[Critic, Critic, dict]:
        """IQL's critic update: expectile ``V`` onto target ``Q``, ``Q`` onto ``r + gamma V(s')``."""
        cfg = self.config
        q_t = self.critic.reduce(self.critic.target_values(t.obs, t.actions), rng, "min")
        value, v_info = fit_value_expectile(self.value, t.obs, q_t, cfg.expectile)
        next_v = value.values(t.next_obs, None).mean(0)
        critic, c_info = self.critic.fit(t.obs, t.actions, t.rewards + t.discounts * next_v)
        return critic, value, {**c_info, **{f"v_{k}": v for k, v in v_info.items()}}

    def _policy_step(
        self, t: Transitions, critic: Critic, target: jax.Array, lam: jax.Array
    ) -> tuple[Policy, dict[str, jax.Array]]:
        """One step of the RIC policy loss; ``target`` are the inverse-dynamics actions."""
        cfg, pol = self.config, self.policy
        rng, k_t, k_n, k_q = jax.random.split(pol.rng, 4)
        B = t.actions.shape[0]

        def loss_fn(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            net = pol.module(params)
            sched = net.schedule()
            k = jax.random.randint(k_t, (B,), 0, net.cfg.num_steps)
            noise = jax.random.normal(k_n, t.actions.shape)
            x_k = dfn.q_sample(sched, t.actions, k, noise)
            eps = net.eps(x_k, t.obs, k, jnp.ones((B,), bool))
            denoise = jnp.mean((eps - noise) ** 2)
            a0 = jnp.clip(dfn.predict_x0(sched, x_k, k, eps), -1.0, 1.0)
            q = critic.reduce(critic.values(t.obs, a0), k_q, cfg.q_reduce)
            q_scale = jax.lax.stop_gradient(jnp.mean(jnp.abs(q)) + 1e-6)
            q_term = -cfg.alpha * jnp.mean(q) / q_scale
            # Weighted by abar_k: only as much as x_k still carries its transition's action (at
            # pure noise the pairing is void and the best estimate is the modes' average).
            dist = jnp.sum((a0 - target) ** 2, axis=-1)
            constraint = jnp.mean(sched.alpha_bars[k] * dist)
            loss = denoise + q_term + lam * constraint
            return loss, {"denoise": denoise, "q": jnp.mean(q), "constraint": constraint}

        (loss, info), grads = jax.value_and_grad(loss_fn, has_aux=True)(pol.net.params)
        info = {"loss": loss, **info, "grad_norm": global_norm(grads)}
        new = pol.replace(net=pol.net.apply_gradients(grads), rng=rng, step=pol.step + 1)
        return new, info

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[RIC, dict[str, jax.Array]]:
        t = self.transitions(batch, gamma=self.config.gamma)
        rng, k_c = jax.random.split(self.rng)
        idm, idm_loss = self.idm.update(t.obs, t.actions, t.next_obs)
        critic, value, c_info = self._critic_step(t, k_c)
        target = jax.lax.stop_gradient(idm.predict(t.obs, t.next_obs))
        lam = constraint_weight(self.config, self.step)
        policy, p_info = self._policy_step(t, critic, target, lam)
        info = {
            **{f"critic/{k}": v for k, v in c_info.items()},
            **{f"policy/{k}": v for k, v in p_info.items()},
            "policy/constraint_weight": lam,
            "idm/loss": idm_loss,
        }
        new = self.replace(
            policy=policy, critic=critic, value=value, idm=idm, rng=rng, step=self.step + 1
        )
        return new, info

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        kw = {"deterministic": True} if deterministic else {}
        return self.policy.sample_fn(self.policy.net.params, obs, rng, n, **kw)


def ric_config(config: Mapping[str, Any] | RICConfig | None) -> RICConfig:
    """A :class:`RICConfig` from overrides."""
    return build_config(
        RICConfig,
        config,
        {
            "policy": ("policy_type", policy_config),
            "critic": ("critic_type", critic_config),
            "value": ("critic_type", value_config),
        },
    )


def create_ric(spec: Spec, config: Mapping[str, Any] | RICConfig | None, rng: jax.Array) -> RIC:
    """A fresh RIC agent."""
    cfg = ric_config(config)
    k_pi, k_q, k_v, k_g, k_rng = jax.random.split(rng, 5)
    idm = create_inverse_dynamics(
        spec.flat_obs_dim, spec.flat_action_dim, k_g, hidden=cfg.idm_hidden, lr=cfg.idm_lr
    )
    return RIC(
        name="ric",
        spec=spec,
        config=cfg,
        policy=create_policy("diffusion", spec, config=cfg.policy, rng=k_pi),
        critic=create_critic(cfg.critic_type, spec, config=cfg.critic, rng=k_q),
        value=create_critic("q", spec, config=cfg.value, rng=k_v),
        idm=idm,
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
