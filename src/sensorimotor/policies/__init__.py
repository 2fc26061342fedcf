"""Policies: Gaussian (tanh), diffusion (DDPM/DDIM) and autoregressive, behind one interface.

``create_policy(name, spec, config=..., seed=...)`` builds a :class:`Policy` learner whose
``update(batch)`` is one behaviour-cloning step of the network's own loss and whose
``sample_actions(obs, rng, n)`` returns ``(B, n, Da)`` actions in environment units.
Entry points are re-exported lazily (``Spec``, ``Learner`` and ``load_learner`` come from
:mod:`sensorimotor.learners`).
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "POLICIES": "factory",
    "create_policy": "factory",
    "policy_config": "factory",
    "PolicyConfig": "factory",
    "PolicyType": "factory",
    "Policy": "policy",
    "GaussianPolicyConfig": "gaussian",
    "DiffusionPolicyConfig": "diffusion",
    "AutoregressivePolicyConfig": "autoregressive",
    "Learner": "sensorimotor.learners.learner",
    "Spec": "sensorimotor.learners.spec",
    "load_learner": "sensorimotor.learners.loader",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
