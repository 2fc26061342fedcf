"""``Spec``: what a learner sees and emits (sizes, bounds, horizons, observation normaliser).

Inside a learner actions live in the normalised box ``[-1, 1]^A``; the spec converts to and from
environment units at the boundary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Spec:
    """Sizes and bounds of what a learner sees and emits.

    ``obs_dim``/``action_dim`` are per time step; a learner sees ``obs_horizon`` stacked
    observations (flattened to ``obs_horizon * obs_dim``) and emits chunks of ``action_horizon``
    actions (flattened to ``action_horizon * action_dim``).
    """

    obs_dim: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    obs_horizon: int = 1
    action_horizon: int = 1
    obs_shift: tuple[float, ...] | None = None
    obs_scale: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.obs_dim < 0 or self.action_dim < 1:
            raise ValueError(
                f"Spec needs obs_dim >= 0 and action_dim >= 1, got {self.obs_dim}, {self.action_dim}"
            )
        for name in ("action_low", "action_high"):
            v = getattr(self, name)
            if len(v) != self.action_dim:
                raise ValueError(
                    f"Spec.{name} has {len(v)} entries; expected action_dim={self.action_dim}"
                )
            object.__setattr__(self, name, tuple(float(x) for x in v))
        if not all(h > lo for lo, h in zip(self.action_low, self.action_high, strict=True)):
            raise ValueError(
                f"Spec needs action_high > action_low per dimension, got low={self.action_low}, "
                f"high={self.action_high}"
            )
        for name in ("obs_shift", "obs_scale"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != self.obs_dim:
                    raise ValueError(
                        f"Spec.{name} has {len(v)} entries; expected obs_dim={self.obs_dim}"
                    )
                object.__setattr__(self, name, tuple(float(x) for x in v))
        if (self.obs_shift is None) != (self.obs_scale is None):
            raise ValueError("Spec.obs_shift and Spec.obs_scale must be given together")
        if self.obs_horizon < 1 or self.action_horizon < 1:
            raise ValueError(
                f"horizons must be >= 1, got obs_horizon={self.obs_horizon}, "
                f"action_horizon={self.action_horizon}"
            )

    @classmethod
    def from_spaces(
        cls,
        observation_space: Any,
        action_space: Any,
        *,
        obs_horizon: int = 1,
        action_horizon: int = 1,
    ) -> Spec:
        """A spec from gymnasium ``Box`` spaces (flat observations, bounded actions)."""
        obs_shape = tuple(getattr(observation_space, "shape", ()) or ())
        act_shape = tuple(getattr(action_space, "shape", ()) or ())
        if len(obs_shape) != 1 or len(act_shape) != 1:
            raise ValueError(
                "RL learners need flat Box spaces; got observation shape "
                f"{obs_shape} and action shape {act_shape}"
            )
        low = np.asarray(action_space.low, np.float64)
        high = np.asarray(action_space.high, np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"actions must be bounded; got low={low}, high={high}")
        return cls(
            obs_dim=int(obs_shape[0]),
            action_dim=int(act_shape[0]),
            action_low=tuple(low.tolist()),
            action_high=tuple(high.tolist()),
            obs_horizon=obs_horizon,
            action_horizon=action_horizon,
        )

    @property
    def flat_obs_dim(self) -> int:
        """Size of the flattened observation window ``obs_horizon * obs_dim``."""
        return self.obs_horizon * self.obs_dim

    @property
    def flat_action_dim(self) -> int:
        """Size of the flattened action chunk ``action_horizon * action_dim``."""
        return self.action_horizon * self.action_dim

    def _bounds(self, last: int) -> tuple[jax.Array, jax.Array]:
        low = jnp.asarray(self.action_low, jnp.float32)
        high = jnp.asarray(self.action_high, jnp.float32)
        reps = last // self.action_dim
        if reps * self.action_dim != last:
            raise ValueError(
                f"action size {last} is not a multiple of action_dim={self.action_dim}"
            )
        return jnp.tile(low, reps), jnp.tile(high, reps)

    def normalize_action(self, a: jax.Array) -> jax.Array:
        """Environment units ``(..., k*A)`` -> ``[-1, 1]`` (clipped)."""
        low, high = self._bounds(a.shape[-1])
        return jnp.clip(2.0 * (a - low) / (high - low) - 1.0, -1.0, 1.0)

    def denormalize_action(self, a: jax.Array) -> jax.Array:
        """``[-1, 1]`` ``(..., k*A)`` -> environment units."""
        low, high = self._bounds(a.shape[-1])
        return low + (jnp.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (high - low)

    def with_obs_normalizer(self, shift: Any, scale: Any) -> Spec:
        """A copy that normalises observations ``(obs - shift) / scale`` (per-step stats ``(D,)``)."""
        return dataclasses.replace(
            self,
            obs_shift=tuple(np.asarray(shift, np.float64).reshape(-1).tolist()),
            obs_scale=tuple(np.asarray(scale, np.float64).reshape(-1).tolist()),
        )

    def normalize_obs(self, obs: jax.Array) -> jax.Array:
        """Apply the observation normaliser (if any) to ``(..., k*D)`` observations."""
        if self.obs_shift is None:
            return obs
        reps = obs.shape[-1] // max(self.obs_dim, 1)
        shift = jnp.tile(jnp.asarray(self.obs_shift, jnp.float32), reps)
        scale = jnp.tile(jnp.asarray(self.obs_scale, jnp.float32), reps)
        return (obs - shift) / scale

    def flatten_obs(self, obs: jax.Array) -> jax.Array:
        """``(B, obs_horizon, D)`` or ``(B, obs_horizon*D)`` -> normalised ``(B, obs_horizon*D)``."""
        obs = jnp.asarray(obs, jnp.float32)
        if obs.ndim == 3:
            obs = obs.reshape(obs.shape[0], -1)
        if obs.ndim != 2 or obs.shape[-1] != self.flat_obs_dim:
            raise ValueError(
                f"expected observations of shape (B, {self.flat_obs_dim}) or "
                f"(B, {self.obs_horizon}, {self.obs_dim}); got {tuple(obs.shape)}"
            )
        return self.normalize_obs(obs)

    def flatten_actions(self, actions: jax.Array) -> jax.Array:
        """``(B, action_horizon, A)`` or ``(B, action_horizon*A)`` -> ``(B, action_horizon*A)``."""
        actions = jnp.asarray(actions, jnp.float32)
        if actions.ndim == 3:
            actions = actions.reshape(actions.shape[0], -1)
        if actions.ndim != 2 or actions.shape[-1] != self.flat_action_dim:
            raise ValueError(
                f"expected actions of shape (B, {self.flat_action_dim}) or "
                f"(B, {self.action_horizon}, {self.action_dim}); got {tuple(actions.shape)}"
            )
        return actions

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        d = dataclasses.asdict(self)
        for k in ("action_low", "action_high", "obs_shift", "obs_scale"):
            d[k] = None if d[k] is None else list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{**d, "action_low": tuple(d["action_low"]), "action_high": tuple(d["action_high"])}
        )


def ensure_batched(obs: jax.Array, flat_dim: int) -> tuple[jax.Array, bool]:
    """Add a batch axis to a single observation; returns ``(obs (B, ...), was_single)``."""
    obs = jnp.asarray(obs, jnp.float32)
    if obs.ndim == 1 and obs.shape[0] == flat_dim:
        return obs[None], True
    return obs, False
