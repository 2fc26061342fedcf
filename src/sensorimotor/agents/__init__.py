"""Agents composed from policies, critics and buffers: BC, SAC, IQL, PA-RL, RIC and TD-MPC2.

``create_agent(name, spec, config=..., seed=...)`` builds one by name; every agent has a pure
jitted ``update(batch) -> (agent, info)``, ``sample_actions(obs, rng, n)``, ``act`` for
environment loops, and ``save``/``load`` through the core checkpoint format. Entry points are
re-exported lazily.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "AGENTS": "factory",
    "AGENT_CONFIGS": "factory",
    "evaluate_agent": "rollout",
    "agent_names": "factory",
    "create_agent": "factory",
    "Agent": "base",
    "ReplayBuffer": "buffer",
    "Critic": "critics",
    "create_critic": "critics",
    "load_learner": "factory",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
