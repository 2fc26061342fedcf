"""Agents composed from policies, critics and buffers: BC, SAC, IQL, PA-RL and TD-MPC2.

``create_agent(name, spec, config=..., seed=...)`` builds one by name; every agent has a pure
jitted ``update(batch) -> (agent, info)``, ``sample_actions(obs, rng, n)``, ``act`` for
environment loops, and ``save``/``load`` through the core checkpoint format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from sensorimotor.agents.base import Agent
from sensorimotor.agents.critics import Critic, create_critic
from sensorimotor.core.registry import Registry
from sensorimotor.policies.base import Spec, load_learner

#: Agent name -> factory ``(spec, config, rng) -> Agent`` (imported on first use).
AGENTS = Registry(
    "agent",
    {
        "bc": "sensorimotor.agents.bc:create_bc",
        "sac": "sensorimotor.agents.sac:create_sac",
        "iql": "sensorimotor.agents.iql:create_iql",
        "pa_rl": "sensorimotor.agents.pa_rl:create_pa_rl",
        "tdmpc2": "sensorimotor.agents.tdmpc2:create_tdmpc2",
    },
)


def agent_names() -> list[str]:
    """Names accepted by :func:`create_agent`."""
    return AGENTS.names()


def create_agent(
    name: str,
    spec: Spec,
    *,
    config: Mapping[str, Any] | Any | None = None,
    seed: int = 0,
    rng: jax.Array | None = None,
) -> Agent:
    """A fresh agent called ``name`` (see :data:`AGENTS`) for ``spec``."""
    factory = AGENTS.get(name)
    rng = jax.random.PRNGKey(seed) if rng is None else rng
    return factory(spec, config, rng)


__all__ = [
    "AGENTS",
    "Agent",
    "Critic",
    "agent_names",
    "create_agent",
    "create_critic",
    "load_learner",
]
