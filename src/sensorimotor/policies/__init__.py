"""Policies: Gaussian (tanh), diffusion (DDPM/DDIM) and autoregressive, behind one interface.

``create_policy(name, spec, config=..., seed=...)`` builds a :class:`Policy` learner whose
``update(batch)`` is one behaviour-cloning step of the network's own loss and whose
``sample_actions(obs, rng, n)`` returns ``(B, n, Da)`` actions in environment units.
Entry points are re-exported lazily (``Spec``, ``Learner`` and ``load_learner`` come from
:mod:`sensorimotor.learners`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "POLICIES": "sensorimotor.policies.factory",
    "create_policy": "sensorimotor.policies.factory",
    "policy_config": "sensorimotor.policies.factory",
    "PolicyConfig": "sensorimotor.policies.factory",
    "PolicyType": "sensorimotor.policies.factory",
    "Policy": "sensorimotor.policies.policy",
    "GaussianPolicyConfig": "sensorimotor.policies.gaussian",
    "DiffusionPolicyConfig": "sensorimotor.policies.diffusion",
    "AutoregressivePolicyConfig": "sensorimotor.policies.autoregressive",
    "Learner": "sensorimotor.learners.learner",
    "Spec": "sensorimotor.learners.spec",
    "load_learner": "sensorimotor.learners.loader",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sensorimotor.policies' has no attribute {name!r}")
