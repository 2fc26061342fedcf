"""Offline training without a host round trip per update: a fixed dataset resident on the
accelerator (:class:`DeviceTransitions`) and :func:`fused_updates`, which samples it inside one
jitted ``lax.scan`` of updates."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from sensorimotor.agents.buffer import ReplayBuffer


class DeviceTransitions(NamedTuple):
    """Transitions resident on the accelerator, sampled inside jitted code.

    For fixed datasets (offline training) this avoids a host-to-device copy and a Python round
    trip per update: :func:`fused_updates` draws ``K`` batches and runs ``K`` updates in one
    ``lax.scan``.
    """

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_observations: jax.Array
    terminals: jax.Array

    @classmethod
    def from_buffer(cls, buffer: ReplayBuffer) -> DeviceTransitions:
        """The buffer's stored steps, copied to the default device."""
        a = buffer.arrays()
        return cls(*(jnp.asarray(a[k]) for k in cls._fields))

    def sample(self, key: jax.Array, batch_size: int) -> dict[str, jax.Array]:
        """``batch_size`` uniformly drawn transitions (jit-friendly)."""
        idx = jax.random.randint(key, (batch_size,), 0, self.rewards.shape[0])
        return {k: getattr(self, k)[idx] for k in self._fields}


@functools.partial(jax.jit, static_argnames=("steps", "batch_size"))
def fused_updates(
    learner: Any, data: DeviceTransitions, key: jax.Array, *, steps: int, batch_size: int
) -> tuple[Any, dict[str, jax.Array]]:
    """``steps`` updates of ``learner`` on batches drawn on-device from ``data`` (one scan).

    Returns the new learner and every update's metrics stacked on a leading ``steps`` axis.
    """

    def body(carry: Any, k: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        return carry._update(data.sample(k, batch_size))

    return jax.lax.scan(body, learner, jax.random.split(key, steps))
