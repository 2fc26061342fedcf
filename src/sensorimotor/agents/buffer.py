"""Replay buffer and offline datasets: one episode-aware circular store of transitions.

Each stored step ``t`` holds ``observations (D,)``, ``actions (A,)``, ``rewards``,
``next_observations (D,)``, ``terminals`` (the episode *terminated* after this step) and ``lasts``
(the episode ended after this step: terminated or truncated). Steps carry their insertion index
and their episode's first index, so windows never cross an episode boundary or the write head.

This module is the storage; the rest lives beside it and the buffer's methods delegate there:

- :mod:`~sensorimotor.agents.samplers`: ``sample``, ``sample_sequences``, ``sample_chunks``;
- :mod:`~sensorimotor.agents.datafiles`: ``save``, ``load`` (NPZ/HDF5), ``from_arrays``,
  ``from_sessions`` (recorded sessions), with cached normalisation statistics;
- :mod:`~sensorimotor.agents.device_loop`: a fixed dataset on the accelerator and fused updates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.agents import samplers
from sensorimotor.agents.samplers import STEP_FIELDS
from sensorimotor.core.errors import DataError
from sensorimotor.core.normalize import Normalizer

__all__ = ["STEP_FIELDS", "ReplayBuffer"]


class ReplayBuffer:
    """Host-memory circular buffer of transitions (see the module docstring)."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs_dim = int(obs_dim)
        self.action_dim = int(action_dim)
        c = self.capacity
        self.data = {
            "observations": np.zeros((c, obs_dim), np.float32),
            "actions": np.zeros((c, action_dim), np.float32),
            "rewards": np.zeros((c,), np.float32),
            "next_observations": np.zeros((c, obs_dim), np.float32),
            "terminals": np.zeros((c,), np.float32),
            "lasts": np.zeros((c,), bool),
        }
        self._index = np.full((c,), -1, np.int64)
        self._ep_start = np.zeros((c,), np.int64)
        self._count = 0
        self._episode_start = 0
        self._stats: dict[str, Normalizer] | None = None
        self.metadata: dict[str, Any] = {}

    # -- filling ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    @property
    def total_added(self) -> int:
        """Steps ever added (including overwritten ones)."""
        return self._count

    def add(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        terminated: bool,
        truncated: bool = False,
    ) -> None:
        """Append one step; ``terminated or truncated`` closes the episode."""
        p = self._count % self.capacity
        d = self.data
        d["observations"][p] = obs
        d["actions"][p] = action
        d["rewards"][p] = reward
        d["next_observations"][p] = next_obs
        d["terminals"][p] = float(terminated)
        d["lasts"][p] = bool(terminated or truncated)
        self._index[p] = self._count
        self._ep_start[p] = self._episode_start
        self._count += 1
        if terminated or truncated:
            self._episode_start = self._count
        self._stats = None

    def add_batch(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Append ``N`` consecutive steps given as arrays with a leading ``N`` axis.

        Needs ``observations``, ``actions``, ``next_observations``; ``rewards``, ``terminals``
        default to 0 and ``lasts`` to ``terminals``.
        """
        n = _check_arrays(arrays, self.obs_dim, self.action_dim, "batch")
        if n == 0:
            return
        rewards = np.asarray(arrays.get("rewards", np.zeros(n)), np.float32).reshape(n)
        terminals = np.asarray(arrays.get("terminals", np.zeros(n)), np.float32).reshape(n)
        lasts = np.asarray(arrays.get("lasts", terminals > 0), bool).reshape(n) | (terminals > 0)
        ends = np.flatnonzero(lasts)
        # Episode start (insertion index) of every new step.
        idx = self._count + np.arange(n)
        starts = np.concatenate([[self._episode_start], self._count + ends + 1])
        ep_of = np.searchsorted(ends, np.arange(n), side="left")
        ep_start = starts[ep_of]
        for lo in range(0, n, self.capacity):  # chunks no larger than the buffer
            hi = min(lo + self.capacity, n)
            pos = idx[lo:hi] % self.capacity
            for key, value in (
                ("observations", arrays["observations"]),
                ("actions", arrays["actions"]),
                ("next_observations", arrays["next_observations"]),
                ("rewards", rewards),
                ("terminals", terminals),
                ("lasts", lasts),
            ):
                self.data[key][pos] = np.asarray(value[lo:hi])
            self._index[pos] = idx[lo:hi]
            self._ep_start[pos] = ep_start[lo:hi]
        self._count += n
        if lasts[-1]:
            self._episode_start = self._count
        elif len(ends):
            self._episode_start = int(self._count - n + ends[-1] + 1)
        self._stats = None

    # -- positions (for the samplers) ---------------------------------------------------------

    @property
    def oldest(self) -> int:
        """Insertion index of the oldest step still stored."""
        return max(0, self._count - self.capacity)

    def position(self, index: np.ndarray) -> np.ndarray:
        """Storage slots of insertion indices."""
        return index % self.capacity

    @property
    def episode_starts(self) -> np.ndarray:
        """Per storage slot: the insertion index where that step's episode began."""
        return self._ep_start

    def require(self, n: int, what: str) -> None:
        """A :class:`DataError` unless the buffer holds at least ``n`` steps for ``what``."""
        if len(self) < n:
            raise DataError(f"replay buffer holds {len(self)} steps; {what} needs at least {n}")

    # -- sampling (see :mod:`sensorimotor.agents.samplers`) ------------------------------------

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` uniformly drawn transitions."""
        return samplers.sample_transitions(self, rng, batch_size)

    def sample_sequences(
        self, rng: np.random.Generator, batch_size: int, horizon: int
    ) -> dict[str, np.ndarray]:
        """``batch_size`` windows of ``horizon`` steps inside one episode each."""
        return samplers.sample_sequences(self, rng, batch_size, horizon)

    def sample_chunks(
        self,
        rng: np.random.Generator,
        batch_size: int,
        obs_horizon: int,
        action_horizon: int,
        gamma: float = 0.99,
    ) -> dict[str, np.ndarray]:
        """Observation windows and action chunks (see :func:`samplers.sample_chunks`)."""
        return samplers.sample_chunks(self, rng, batch_size, obs_horizon, action_horizon, gamma)

    # -- statistics ---------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored steps in insertion order (oldest first)."""
        order = self.position(np.arange(self.oldest, self._count))
        return {k: v[order] for k, v in self.data.items()}

    def stats(self) -> dict[str, Normalizer]:
        """Z-score normalisers of ``observations`` and ``actions`` (cached until the next add)."""
        self.require(1, "statistics")
        if self._stats is None:
            a = self.arrays()
            self._stats = {
                "observations": Normalizer.fit(a["observations"], "zscore"),
                "actions": Normalizer.fit(a["actions"], "zscore"),
            }
        return self._stats

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of every complete episode stored."""
        a = self.arrays()
        ends = np.flatnonzero(a["lasts"])
        sums = np.cumsum(a["rewards"], dtype=np.float64)
        out, prev = [], -1
        for e in ends:
            out.append(sums[e] - (sums[prev] if prev >= 0 else 0.0))
            prev = e
        return np.asarray(out)

    def set_stats(self, stats: dict[str, Normalizer]) -> None:
        """Use precomputed statistics (e.g. cached beside a dataset file) until the next add."""
        self._stats = stats

    # -- files (see :mod:`sensorimotor.agents.datafiles`) -------------------------------------

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the stored steps to ``.npz`` or ``.h5``/``.hdf5`` (atomically)."""
        from sensorimotor.agents.datafiles import save_buffer

        return save_buffer(self, path, metadata=metadata)

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], *, capacity: int | None = None, where: str = "arrays"
    ) -> ReplayBuffer:
        """A buffer holding ``arrays`` (see :meth:`load` for the accepted keys)."""
        from sensorimotor.agents.datafiles import buffer_from_arrays

        return buffer_from_arrays(arrays, capacity=capacity, where=where)

    @classmethod
    def load(
        cls, path: str | Path, *, capacity: int | None = None, group: str | None = None
    ) -> ReplayBuffer:
        """An offline dataset from an NPZ or HDF5 file (see :func:`datafiles.load_buffer`)."""
        from sensorimotor.agents.datafiles import load_buffer

        return load_buffer(path, capacity=capacity, group=group)

    @classmethod
    def from_sessions(
        cls,
        paths: Sequence[str | Path],
        *,
        obs_keys: Sequence[str] | None = None,
        reward_key: str | None = "reward",
        capacity: int | None = None,
    ) -> ReplayBuffer:
        """An offline dataset from recorded sessions (see :func:`datafiles.buffer_from_sessions`)."""
        from sensorimotor.agents.datafiles import buffer_from_sessions

        return buffer_from_sessions(
            paths, obs_keys=obs_keys, reward_key=reward_key, capacity=capacity
        )


def _check_arrays(
    arrays: Mapping[str, np.ndarray], obs_dim: int, action_dim: int, where: str
) -> int:
    for key in ("observations", "actions", "next_observations"):
        if key not in arrays:
            raise DataError(f"{where}: missing {key!r}; it has {sorted(arrays)}")
    n = len(arrays["observations"])
    want = {
        "observations": (n, obs_dim),
        "next_observations": (n, obs_dim),
        "actions": (n, action_dim),
    }
    for key, shape in want.items():
        got = np.shape(arrays[key])
        if got != shape:
            raise DataError(f"{where}: {key} has shape {got}; expected {shape}")
    for key in ("rewards", "terminals", "lasts"):
        if key in arrays and np.shape(arrays[key])[0] != n:
            raise DataError(f"{where}: {key} has {np.shape(arrays[key])[0]} rows; expected {n}")
    for key in ("observations", "actions", "next_observations", "rewards"):
        if key in arrays and not np.isfinite(np.asarray(arrays[key], np.float64)).all():
            raise DataError(f"{where}: {key} contains NaN or Inf")
    return n
