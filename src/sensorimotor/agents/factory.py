"""Building agents by name: the agent registry and :func:`create_agent`.

Importing this module registers every RL learner kind (policy, critic, agent), so its
:func:`load_learner` rebuilds any of their checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from sensorimotor.agents import critics as _critics  # noqa: F401 - registers the "critic" kind
from sensorimotor.agents.base import Agent
from sensorimotor.core.registry import Registry
from sensorimotor.learners.loader import load_learner
from sensorimotor.learners.spec import Spec
from sensorimotor.policies import policy as _policy  # noqa: F401 - registers the "policy" kind

__all__ = ["AGENTS", "AGENT_CONFIGS", "agent_names", "create_agent", "load_learner"]

#: Agent name -> factory ``(spec, config, rng) -> Agent`` (imported on first use).
AGENTS = Registry(
    "agent",
    {
        "bc": "sensorimotor.agents.bc:create_bc",
        "sac": "sensorimotor.agents.sac:create_sac",
        "iql": "sensorimotor.agents.iql:create_iql",
        "pa_rl": "sensorimotor.agents.pa_rl:create_pa_rl",
        "tdmpc2": "sensorimotor.agents.tdmpc2:create_tdmpc2",
        "ric": "sensorimotor.agents.ric:create_ric",
    },
)


#: Agent name -> its config dataclass (the keys ``algo.agent.*`` accepts).
AGENT_CONFIGS = Registry(
    "agent config",
    {
        "bc": "sensorimotor.agents.bc:BCConfig",
        "sac": "sensorimotor.agents.sac:SACConfig",
        "iql": "sensorimotor.agents.iql:IQLConfig",
        "pa_rl": "sensorimotor.agents.pa_rl:PARLConfig",
        "tdmpc2": "sensorimotor.agents.tdmpc2:TDMPC2Config",
        "ric": "sensorimotor.agents.ric:RICConfig",
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
