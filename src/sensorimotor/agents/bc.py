"""Imitation: behaviour cloning of any policy by its own supervised loss."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from sensorimotor.agents.base import Agent
from sensorimotor.learners.config import build_config
from sensorimotor.learners.spec import Spec
from sensorimotor.policies.factory import PolicyConfig, PolicyType, create_policy, policy_config
from sensorimotor.policies.policy import Policy


@dataclass(frozen=True)
class BCConfig:
    """Behaviour cloning: which policy (``policy_type``) with which hyperparameters."""

    policy_type: PolicyType = "diffusion"
    policy: PolicyConfig | None = None


class BC(Agent):
    """Behaviour cloning of ``batch["actions"]`` given ``batch["observations"]``."""

    policy: Policy
    step: jax.Array

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[BC, dict[str, jax.Array]]:
        t = self.transitions(batch, rewards=False)
        policy, info = self.policy.fit(t.obs, t.actions, batch.get("weights"))
        return self.replace(policy=policy, step=self.step + 1), {
            f"policy/{k}": v for k, v in info.items()
        }

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        kw = {"deterministic": True} if deterministic else {}
        return self.policy.sample_fn(self.policy.net.params, obs, rng, n, **kw)


def bc_config(config: Mapping[str, Any] | BCConfig | None) -> BCConfig:
    """A :class:`BCConfig` from overrides."""
    return build_config(BCConfig, config, {"policy": ("policy_type", policy_config)})


def create_bc(spec: Spec, config: Mapping[str, Any] | BCConfig | None, rng: jax.Array) -> BC:
    """A fresh behaviour-cloning agent."""
    cfg = bc_config(config)
    policy = create_policy(cfg.policy_type, spec, config=cfg.policy, rng=rng)
    return BC(name="bc", spec=spec, config=cfg, policy=policy, step=jnp.zeros((), jnp.int32))
