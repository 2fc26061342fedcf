"""Building policies by name: the policy registry, configs and :func:`create_policy`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import nnx

from sensorimotor.core.registry import Registry
from sensorimotor.learners.config import make_config
from sensorimotor.learners.optim import make_optimizer
from sensorimotor.learners.spec import Spec
from sensorimotor.learners.state import TrainState
from sensorimotor.policies.autoregressive import AutoregressivePolicyConfig, AutoregressivePolicyNet
from sensorimotor.policies.diffusion import DiffusionPolicyConfig, DiffusionPolicyNet
from sensorimotor.policies.gaussian import GaussianPolicyConfig, GaussianPolicyNet
from sensorimotor.policies.policy import Policy

#: Policy types (the keys of :data:`POLICIES`).
PolicyType = Literal["gaussian", "diffusion", "autoregressive"]
#: The config of any policy type.
PolicyConfig = GaussianPolicyConfig | DiffusionPolicyConfig | AutoregressivePolicyConfig

#: Policy type name -> ``(config class, network class)``.
POLICIES = Registry(
    "policy",
    {
        "gaussian": (GaussianPolicyConfig, GaussianPolicyNet),
        "diffusion": (DiffusionPolicyConfig, DiffusionPolicyNet),
        "autoregressive": (AutoregressivePolicyConfig, AutoregressivePolicyNet),
    },
)


def policy_config(name: str, config: Mapping[str, Any] | Any | None = None) -> Any:
    """The config dataclass of policy ``name`` with ``config`` overrides (dict or instance)."""
    return make_config(POLICIES.get(name)[0], config, where=f"policy ({name})")


def create_policy(
    name: str,
    spec: Spec,
    *,
    config: Mapping[str, Any] | Any | None = None,
    seed: int = 0,
    rng: jax.Array | None = None,
) -> Policy:
    """A fresh :class:`Policy` of type ``name`` (``gaussian | diffusion | autoregressive``)."""
    cfg = policy_config(name, config)
    rng = jax.random.PRNGKey(seed) if rng is None else rng
    k_init, k_rng = jax.random.split(rng)
    net_cls = POLICIES.get(name)[1]
    module = net_cls(spec.flat_obs_dim, spec.flat_action_dim, cfg, rngs=nnx.Rngs(k_init))
    tx = make_optimizer(cfg.lr, grad_clip=cfg.grad_clip)
    return Policy(
        name=name,
        spec=spec,
        config=cfg,
        net=TrainState.create(module, tx),
        rng=k_rng,
        step=jnp.zeros((), jnp.int32),
    )
