"""Agents composed from policies, critics and buffers: BC, SAC, IQL, PA-RL and TD-MPC2.

``create_agent(name, spec, config=..., seed=...)`` builds one by name; every agent has a pure
jitted ``update(batch) -> (agent, info)``, ``sample_actions(obs, rng, n)``, ``act`` for
environment loops, and ``save``/``load`` through the core checkpoint format. Entry points are
re-exported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AGENTS": "sensorimotor.agents.factory",
    "AGENT_CONFIGS": "sensorimotor.agents.factory",
    "evaluate_agent": "sensorimotor.agents.rollout",
    "agent_names": "sensorimotor.agents.factory",
    "create_agent": "sensorimotor.agents.factory",
    "Agent": "sensorimotor.agents.base",
    "ReplayBuffer": "sensorimotor.agents.buffer",
    "Critic": "sensorimotor.agents.critics",
    "create_critic": "sensorimotor.agents.critics",
    "load_learner": "sensorimotor.agents.factory",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sensorimotor.agents' has no attribute {name!r}")
