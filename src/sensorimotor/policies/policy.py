"""``Policy``: any policy network behind one learner interface (supervised ``update`` + sampling).

A policy network is an NNX module with

- ``loss(obs (B, Do), actions (B, Da), rng, weights (B,) | None) -> (scalar, info)``: its own
  supervised (behaviour-cloning) loss on normalised actions; ``weights`` re-weight samples
  (advantage-weighted regression, distillation);
- ``sample(obs (B, Do), rng, n, **kw) -> (B, n, Da)``: normalised actions in ``[-1, 1]``.

``Do = obs_horizon * obs_dim`` and ``Da = action_horizon * action_dim`` (see ``Spec``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import jax
from flax import nnx

from sensorimotor.learners.learner import Learner
from sensorimotor.learners.loader import LEARNER_KINDS
from sensorimotor.learners.spec import ensure_batched
from sensorimotor.learners.state import TrainState, global_norm

LEARNER_KINDS.setdefault("policy", "sensorimotor.policies.factory:create_policy")


class Policy(Learner):
    """A policy learner: ``update`` = one step of the network's own supervised loss."""

    kind: ClassVar[str] = "policy"

    net: TrainState
    rng: jax.Array
    step: jax.Array

    # -- functional core (normalised action space, no jit) ------------------------------------

    def module(self, params: nnx.State | None = None) -> Any:
        """The policy network with ``params`` (default: current) merged in."""
        return self.net.module(params)

    def loss_fn(
        self,
        params: nnx.State,
        obs: jax.Array,
        actions: jax.Array,
        rng: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The network's supervised loss on flat ``obs (B, Do)`` and normalised ``actions (B, Da)``."""
        return self.module(params).loss(obs, actions, rng, weights)

    def sample_fn(
        self, params: nnx.State, obs: jax.Array, rng: jax.Array, n: int = 1, **kwargs: Any
    ) -> jax.Array:
        """``(B, n, Da)`` normalised actions for flat ``obs (B, Do)``."""
        return self.module(params).sample(obs, rng, n, **kwargs)

    def fit(
        self, obs: jax.Array, actions: jax.Array, weights: jax.Array | None = None
    ) -> tuple[Policy, dict[str, jax.Array]]:
        """One gradient step of the supervised loss (pure; call under jit)."""
        rng, key = jax.random.split(self.rng)

        def loss(p: nnx.State) -> tuple[jax.Array, dict[str, jax.Array]]:
            return self.loss_fn(p, obs, actions, key, weights)

        (value, info), grads = jax.value_and_grad(loss, has_aux=True)(self.net.params)
        info = {"loss": value, **info, "grad_norm": global_norm(grads)}
        return self.replace(net=self.net.apply_gradients(grads), rng=rng, step=self.step + 1), info

    # -- learner interface --------------------------------------------------------------------

    def _update(self, batch: Mapping[str, jax.Array]) -> tuple[Policy, dict[str, jax.Array]]:
        """Behaviour cloning on ``batch["observations"]``/``["actions"]`` (env units), optional
        ``batch["weights"] (B,)``."""
        obs = self.spec.flatten_obs(batch["observations"])
        actions = self.spec.normalize_action(self.spec.flatten_actions(batch["actions"]))
        return self.fit(obs, actions, batch.get("weights"))

    @functools.partial(jax.jit, static_argnames=("n", "deterministic"))
    def sample_actions(
        self, obs: jax.Array, rng: jax.Array, n: int = 1, deterministic: bool = False
    ) -> jax.Array:
        """``(B, n, Da)`` actions in environment units (``(n, Da)`` for a single observation)."""
        obs, single = ensure_batched(obs, self.spec.flat_obs_dim)
        obs = self.spec.flatten_obs(obs)
        kw = {"deterministic": True} if deterministic else {}
        a = self.spec.denormalize_action(self.sample_fn(self.net.params, obs, rng, n, **kw))
        return a[0] if single else a
