"""``Agent``: a learner that acts. Shared batch handling and the acting interface.

Batches are dicts of arrays (environment units):

- ``observations (B, Do)`` or ``(B, To, D)``; ``actions (B, Da)`` or ``(B, H, A)``;
- ``rewards (B,)`` (for chunks: the discounted sum over the chunk), ``next_observations``,
  ``terminals (B,)`` (1 where the episode *terminated*; time-limit truncation bootstraps);
  optionally ``discounts (B,)``: the bootstrap factor per sample (chunk samplers provide
  ``gamma ** n`` for the ``n`` real steps of a chunk, 0 after a termination).

Agents work in normalised action units internally; without ``discounts`` they bootstrap with
``gamma ** action_horizon * (1 - terminal)``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from sensorimotor.learners.learner import Learner
from sensorimotor.learners.loader import LEARNER_KINDS
from sensorimotor.learners.spec import ensure_batched

LEARNER_KINDS.setdefault("agent", "sensorimotor.agents.factory:create_agent")


#: What an agent learns from: single transitions, observation windows with action chunks, or
#: ``H``-step sequences (see :mod:`sensorimotor.agents.buffer` for the samplers).
BatchKind = Literal["transitions", "chunks", "sequences"]


class Transitions(NamedTuple):
    """A normalised batch: flat obs, ``[-1, 1]`` actions, rewards, next obs, terminals and the
    per-sample bootstrap factor ``discounts``."""

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_obs: jax.Array
    terminals: jax.Array
    discounts: jax.Array


class Agent(Learner):
    """Base of agents: ``sample_actions`` and the (possibly stateful) ``act`` loop interface."""

    kind: ClassVar[str] = "agent"

    #: Published evaluation returns per task, ``{task: {step: (seed returns, ...)}}``, drawn as a
    #: reference curve in the run report (empty: none).
    published_returns: ClassVar[Mapping[str, Mapping[int, tuple[float, ...]]]] = {}

    # -- what to learn from -------------------------------------------------------------------

    @property
    def batch_kind(self) -> BatchKind:
        """``chunks`` when the spec has observation or action horizons > 1, else
        ``transitions``; sequence models override it."""
        if self.spec.obs_horizon > 1 or self.spec.action_horizon > 1:
            return "chunks"
        return "transitions"

    @property
    def min_replay_steps(self) -> int:
        """Steps the replay buffer must hold before this agent can sample a batch."""
        return 1

    def sample_batch(
        self, buffer: Any, rng: np.random.Generator, batch_size: int
    ) -> dict[str, np.ndarray]:
        """One training batch of :attr:`batch_kind` from a replay buffer (host arrays)."""
        if self.batch_kind == "chunks":
            gamma = float(getattr(self.config, "gamma", 0.99))
            spec = self.spec
            batch = buffer.sample_chunks(
                rng, batch_size, spec.obs_horizon, spec.action_horizon, gamma=gamma
            )
            batch.pop("action_mask")
            return batch
        return buffer.sample(rng, batch_size)

    def transitions(
        self, batch: Mapping[str, jax.Array], *, gamma: float = 0.99, rewards: bool = True
    ) -> Transitions:
        """Flatten and normalise a batch (see the module docstring for keys)."""
        spec = self.spec
        obs = spec.flatten_obs(batch["observations"])
        actions = spec.normalize_action(spec.flatten_actions(batch["actions"]))
        if not rewards:
            z = jnp.zeros(obs.shape[:1])
            return Transitions(obs, actions, z, obs, z, z)
        for key in ("rewards", "next_observations", "terminals"):
            if key not in batch:
                raise KeyError(f"{self.name} needs batch[{key!r}]; got keys {sorted(batch)}")
        terminals = jnp.asarray(batch["terminals"], jnp.float32).reshape(-1)
        if "discounts" in batch:
            discounts = jnp.asarray(batch["discounts"], jnp.float32).reshape(-1)
        else:
            discounts = (gamma**spec.action_horizon) * (1.0 - terminals)
        return Transitions(
            obs,
            actions,
            jnp.asarray(batch["rewards"], jnp.float32).reshape(-1),
            spec.flatten_obs(batch["next_observations"]),
            terminals,
            discounts,
        )

    # -- acting -------------------------------------------------------------------------------

    def _sample(self, obs: jax.Array, rng: jax.Array, n: int, deterministic: bool) -> jax.Array:
        """``(B, n, Da)`` normalised actions for flat ``obs (B, Do)`` (pure)."""
        raise NotImplementedError

    @functools.partial(jax.jit, static_argnames=("n", "deterministic"))
    def sample_actions(
        self, obs: jax.Array, rng: jax.Array, n: int = 1, deterministic: bool = False
    ) -> jax.Array:
        """``(B, n, Da)`` actions in environment units (``(n, Da)`` for one observation)."""
        obs, single = ensure_batched(obs, self.spec.flat_obs_dim)
        obs = self.spec.flatten_obs(obs)
        a = self.spec.denormalize_action(self._sample(obs, rng, n, deterministic))
        return a[0] if single else a

    def init_act_state(self, batch_size: int) -> Any:
        """Per-episode acting state for ``batch_size`` parallel environments (none by default)."""
        del batch_size
        return ()

    def act(
        self,
        obs: jax.Array,
        rng: jax.Array,
        state: Any,
        *,
        first: jax.Array | None = None,
        deterministic: bool = False,
    ) -> tuple[jax.Array, Any]:
        """One action ``(B, Da)`` per observation ``(B, Do)`` plus the next acting state.

        ``first (B,)`` marks episode starts (stateful agents reset there).
        """
        del first
        return self.sample_actions(obs, rng, 1, deterministic)[:, 0], state
