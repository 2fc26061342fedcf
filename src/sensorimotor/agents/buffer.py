"""Replay buffer and offline datasets: one episode-aware circular store of transitions.

Each stored step ``t`` holds ``observations (D,)``, ``actions (A,)``, ``rewards``,
``next_observations (D,)``, ``terminals`` (the episode *terminated* after this step) and ``lasts``
(the episode ended after this step: terminated or truncated). Steps carry their insertion index
and their episode's first index, so windows never cross an episode boundary or the write head.

Samplers (``rng`` is a ``numpy.random.Generator``):

- :meth:`ReplayBuffer.sample`: single transitions ``(B, ...)``;
- :meth:`ReplayBuffer.sample_sequences`: ``H``-step windows for TD-MPC2: ``observations
  (B, H+1, D)``, ``actions (B, H, A)``, ``rewards (B, H)``, ``terminals (B, H)``;
- :meth:`ReplayBuffer.sample_chunks`: observation windows ``(B, To, D)`` (padded with the
  episode's first observation) and action chunks ``(B, Ha, A)`` (padded with the last action at
  an episode end), with the discounted chunk reward and per-sample bootstrap ``discounts``.

:class:`DeviceTransitions` keeps a fixed dataset on the accelerator and :func:`fused_updates`
samples from it inside one jitted ``lax.scan`` of updates (offline training without a host round
trip per update).

Offline datasets are the same class, filled from an NPZ/HDF5 file (:meth:`ReplayBuffer.load`) or
from recorded sessions (:meth:`ReplayBuffer.from_sessions`); normalisation statistics are computed
once and cached beside the file (``<file>.stats.json``).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.core.normalize import Normalizer

STEP_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "lasts")
FILE_SUFFIXES = (".npz", ".h5", ".hdf5")


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

    # -- sampling -----------------------------------------------------------------------------

    def _oldest(self) -> int:
        return max(0, self._count - self.capacity)

    def _pos(self, index: np.ndarray) -> np.ndarray:
        return index % self.capacity

    def _require(self, n: int, what: str) -> None:
        if len(self) < n:
            raise DataError(f"replay buffer holds {len(self)} steps; {what} needs at least {n}")

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` uniformly drawn transitions (keys of ``STEP_FIELDS`` minus ``lasts``)."""
        self._require(1, "sampling")
        pos = rng.integers(0, len(self), size=batch_size)
        return {k: self.data[k][pos] for k in STEP_FIELDS if k != "lasts"}

    def _valid_sequence_starts(self, idx: np.ndarray, horizon: int) -> np.ndarray:
        ok = idx + horizon - 1 < self._count
        for k in range(horizon - 1):
            ok &= ~self.data["lasts"][self._pos(np.minimum(idx + k, self._count - 1))]
        return ok

    def sample_sequences(
        self, rng: np.random.Generator, batch_size: int, horizon: int
    ) -> dict[str, np.ndarray]:
        """``batch_size`` windows of ``horizon`` steps inside one episode each."""
        if horizon < 1:
            raise ValueError(f"sequence horizon must be >= 1, got {horizon}")
        self._require(horizon, f"a {horizon}-step window")
        chosen: list[np.ndarray] = []
        have, tries = 0, 0
        oldest = self._oldest()
        while have < batch_size:
            cand = rng.integers(oldest, self._count, size=2 * batch_size)
            good = cand[self._valid_sequence_starts(cand, horizon)]
            chosen.append(good)
            have += len(good)
            tries += 1
            if tries > 100 and have == 0:
                raise DataError(
                    f"no {horizon}-step window fits inside an episode in the replay buffer"
                )
        start = np.concatenate(chosen)[:batch_size]
        steps = start[:, None] + np.arange(horizon)[None]  # (B, H)
        pos = self._pos(steps)
        d = self.data
        obs = np.concatenate(
            [d["observations"][pos], d["next_observations"][pos[:, -1]][:, None]], axis=1
        )
        return {
            "observations": obs,
            "actions": d["actions"][pos],
            "rewards": d["rewards"][pos],
            "terminals": d["terminals"][pos],
        }

    def sample_chunks(
        self,
        rng: np.random.Generator,
        batch_size: int,
        obs_horizon: int,
        action_horizon: int,
        gamma: float = 0.99,
    ) -> dict[str, np.ndarray]:
        """Observation windows and action chunks (see the module docstring).

        Returns ``observations (B, To, D)``, ``actions (B, Ha, A)``, ``rewards (B,)`` (discounted
        sum over the chunk's steps), ``next_observations (B, To, D)`` (the window after the
        chunk), ``terminals (B,)``, ``discounts (B,)`` (``gamma ** n`` for the ``n`` real steps,
        0 after a termination) and ``action_mask (B, Ha)`` (False on padding).
        """
        self._require(1, "sampling")
        d = self.data
        oldest = self._oldest()
        start = rng.integers(oldest, self._count, size=batch_size)  # (B,) insertion indices
        ep0 = np.maximum(self._ep_start[self._pos(start)], oldest)

        # Action chunk: steps start .. start+Ha-1 while the episode goes on.
        alive = np.ones(batch_size, bool)
        last_valid = start.copy()
        actions = np.empty((batch_size, action_horizon, self.action_dim), np.float32)
        mask = np.zeros((batch_size, action_horizon), bool)
        rewards = np.zeros(batch_size, np.float32)
        terminals = np.zeros(batch_size, np.float32)
        n_steps = np.zeros(batch_size, np.int64)
        for k in range(action_horizon):
            step = start + k
            alive &= step < self._count
            last_valid = np.where(alive, step, last_valid)
            p = self._pos(last_valid)
            actions[:, k] = d["actions"][p]
            mask[:, k] = alive
            rewards += np.where(alive, (gamma**k) * d["rewards"][p], 0.0)
            terminals = np.where(alive, np.maximum(terminals, d["terminals"][p]), terminals)
            n_steps += alive
            alive &= ~d["lasts"][p]

        def window(end: np.ndarray) -> np.ndarray:
            """Observations of steps end-To+1 .. end, clamped to the episode start."""
            steps = end[:, None] - np.arange(obs_horizon - 1, -1, -1)[None]
            steps = np.maximum(steps, ep0[:, None])
            return d["observations"][self._pos(steps)]

        obs = window(start)
        nxt = window(last_valid)
        nxt = np.concatenate(
            [nxt[:, 1:], d["next_observations"][self._pos(last_valid)][:, None]], 1
        )
        if obs_horizon == 1:
            nxt = d["next_observations"][self._pos(last_valid)][:, None]
        return {
            "observations": obs,
            "actions": actions,
            "rewards": rewards,
            "next_observations": nxt,
            "terminals": terminals,
            "discounts": (gamma**n_steps) * (1.0 - terminals),
            "action_mask": mask,
        }

    # -- statistics and files -----------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored steps in insertion order (oldest first)."""
        order = self._pos(np.arange(self._oldest(), self._count))
        return {k: v[order] for k, v in self.data.items()}

    def stats(self) -> dict[str, Normalizer]:
        """Z-score normalisers of ``observations`` and ``actions`` (cached until the next add)."""
        self._require(1, "statistics")
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

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the stored steps to ``.npz`` or ``.h5``/``.hdf5`` (atomically)."""
        path = Path(path)
        if path.suffix not in FILE_SUFFIXES:
            raise DataError(f"{path}: dataset files must end in one of {FILE_SUFFIXES}")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = self.arrays()
        meta = {**self.metadata, **dict(metadata or {})}
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            if path.suffix == ".npz":
                with tmp.open("wb") as f:
                    np.savez_compressed(f, **arrays, metadata=np.asarray(json.dumps(meta)))
            else:
                import h5py

                with h5py.File(tmp, "w") as f:
                    for k, v in arrays.items():
                        f.create_dataset(k, data=v, compression="gzip")
                    f.attrs["metadata"] = json.dumps(meta)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        *,
        capacity: int | None = None,
        where: str = "arrays",
    ) -> ReplayBuffer:
        """A buffer holding ``arrays`` (see :meth:`load` for the accepted keys)."""
        arrays = _complete_arrays(arrays, where)
        obs = arrays["observations"]
        n = obs.shape[0]
        buf = cls(capacity or max(n, 1), obs.shape[1], arrays["actions"].shape[1])
        buf.add_batch(arrays)
        return buf

    @classmethod
    def load(
        cls, path: str | Path, *, capacity: int | None = None, group: str | None = None
    ) -> ReplayBuffer:
        """An offline dataset from an NPZ or HDF5 file.

        Keys: ``observations (N, D)``, ``actions (N, A)``; optional ``rewards (N,)``,
        ``next_observations (N, D)``, ``terminals (N,)`` and episode ends as ``lasts``,
        ``truncations`` or ``timeouts (N,)``. Without ``next_observations`` the next step's
        observation is used and each episode's final step is dropped (D4RL convention).
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: dataset file not found")
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as f:
                    for k in f.files:
                        if k == "metadata":
                            meta = json.loads(str(f[k]))
                        else:
                            arrays[k] = f[k]
            elif path.suffix in (".h5", ".hdf5"):
                import h5py

                with h5py.File(path, "r") as f:
                    node = f[group] if group else f
                    for k in node:
                        if isinstance(node[k], h5py.Dataset):
                            arrays[k] = node[k][()]
                    if "metadata" in node.attrs:
                        meta = json.loads(node.attrs["metadata"])
            else:
                raise DataError(f"{path}: unknown dataset format; expected one of {FILE_SUFFIXES}")
        except DataError:
            raise
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{path}: cannot read dataset ({e})") from None
        buf = cls.from_arrays(arrays, capacity=capacity, where=str(path))
        buf.metadata = meta
        buf._load_cached_stats(path)
        return buf

    def _load_cached_stats(self, path: Path) -> None:
        """Reuse ``<path>.stats.json`` when it matches the file; otherwise compute and write it."""
        side = path.with_name(path.name + ".stats.json")
        st = path.stat()
        key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "steps": len(self)}
        if side.is_file():
            try:
                cached = json.loads(side.read_text())
                if cached.get("key") == key:
                    self._stats = {k: Normalizer.from_dict(v) for k, v in cached["stats"].items()}
                    return
            except (OSError, ValueError, KeyError, DataError):
                pass
        stats = self.stats()
        payload = {
            "key": key,
            "stats": {
                k: {"kind": n.kind, "shift": n.shift.tolist(), "scale": n.scale.tolist()}
                for k, n in stats.items()
            },
        }
        try:
            tmp = side.with_name(side.name + f".tmp-{os.getpid()}")
            tmp.write_text(json.dumps(payload))
            os.replace(tmp, side)
        except OSError:
            pass  # a read-only dataset folder: stats are recomputed next time

    @classmethod
    def from_sessions(
        cls,
        paths: Sequence[str | Path],
        *,
        obs_keys: Sequence[str] | None = None,
        reward_key: str | None = "reward",
        capacity: int | None = None,
    ) -> ReplayBuffer:
        """An offline dataset from recorded sessions of a continuous (``Box``) robot.

        Observation ``i`` is ``concat(obs[k] for k in obs_keys)`` (default: ``["obs"]`` when
        present, else every numeric non-image entry); action ``i`` is ``action[box.key]``; the
        reward and termination of step ``i`` are read from observation ``i+1`` (``reward_key``,
        ``terminated``, ``truncated``, as written by ``GymRobot``). Steps after which the robot
        reset (the observation was already terminal) are skipped; ``episode`` changes end one.
        """
        from sensorimotor.robots.interface import Box
        from sensorimotor.robots.session import SessionReader

        parts: list[dict[str, np.ndarray]] = []
        for path in paths:
            reader = SessionReader(path)
            space = reader.action_space
            if not isinstance(space, Box):
                raise DataError(
                    f"{reader.path}: offline RL needs a continuous (Box) action space; this "
                    "session's actions are discrete"
                )
            parts.append(_session_arrays(reader, space.key, obs_keys, reward_key))
        if not parts:
            raise DataError("no sessions given")
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        buf = cls.from_arrays(arrays, capacity=capacity, where="sessions")
        buf.metadata = {"sessions": [str(p) for p in paths]}
        return buf


def _session_arrays(
    reader: Any, action_key: str, obs_keys: Sequence[str] | None, reward_key: str | None
) -> dict[str, np.ndarray]:
    n = len(reader)
    if n < 2:
        raise DataError(f"{reader.path}: a session needs at least 2 steps, it has {n}")
    first = reader.observation(0)
    if obs_keys is None:
        if "obs" in first:
            obs_keys = ["obs"]
        else:
            obs_keys = [
                k
                for k, v in first.items()
                if k not in reader.image_keys
                and k not in ("reward", "terminated", "truncated", "episode")
                and np.asarray(v).dtype.kind in "fiub"
            ]
    if not obs_keys:
        raise DataError(f"{reader.path}: no numeric observation entries to learn from")

    def flat(o: Mapping[str, Any]) -> np.ndarray:
        missing = [k for k in obs_keys if k not in o]
        if missing:
            raise DataError(f"{reader.path}: observation lacks {missing}; it has {sorted(o)}")
        return np.concatenate([np.asarray(o[k], np.float32).reshape(-1) for k in obs_keys])

    obs_all = []
    extras = []
    for i in range(n):
        rec = reader.records[i]
        o = {k: v for k, v in rec["obs"].items()}
        obs_all.append(flat(o) if all(k in o for k in obs_keys) else flat(reader.observation(i)))
        extras.append(o)
    out: dict[str, list] = {
        k: []
        for k in ("observations", "actions", "rewards", "next_observations", "terminals", "lasts")
    }
    for i in range(n - 1):
        cur, nxt = extras[i], extras[i + 1]
        action = reader.action(i)
        if action is None or cur.get("terminated") or cur.get("truncated"):
            continue  # no action, or the action reset the robot
        if action_key not in action:
            raise DataError(f"{reader.path}: step {i} action lacks {action_key!r}: {action}")
        term = bool(nxt.get("terminated", False))
        new_episode = "episode" in cur and "episode" in nxt and nxt["episode"] != cur["episode"]
        out["observations"].append(obs_all[i])
        out["actions"].append(np.asarray(action[action_key], np.float32).reshape(-1))
        out["rewards"].append(float(nxt.get(reward_key, 0.0)) if reward_key else 0.0)
        out["next_observations"].append(obs_all[i + 1])
        out["terminals"].append(float(term))
        out["lasts"].append(term or bool(nxt.get("truncated", False)) or new_episode or i == n - 2)
    if not out["observations"]:
        raise DataError(f"{reader.path}: no usable transitions")
    return {k: np.asarray(v) for k, v in out.items()}


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


def _complete_arrays(arrays: Mapping[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Fill in ``next_observations`` / ``lasts`` from the conventions of :meth:`ReplayBuffer.load`."""
    a = {k: np.asarray(v) for k, v in arrays.items()}
    for key in ("observations", "actions"):
        if key not in a:
            raise DataError(f"{where}: missing {key!r}; it has {sorted(a)}")
    obs = a["observations"].astype(np.float32)
    if obs.ndim != 2:
        raise DataError(f"{where}: observations must be (N, D); got shape {obs.shape}")
    n = obs.shape[0]
    act = a["actions"].astype(np.float32)
    if act.ndim == 1:
        act = act[:, None]
    if act.ndim != 2 or act.shape[0] != n:
        raise DataError(f"{where}: actions must be (N={n}, A); got shape {a['actions'].shape}")
    rewards = a.get("rewards", np.zeros(n, np.float32)).astype(np.float32).reshape(-1)
    terminals = a.get("terminals", np.zeros(n)).astype(np.float32).reshape(-1)
    ends = np.zeros(n, bool)
    for key in ("lasts", "truncations", "timeouts", "dones"):
        if key in a:
            ends |= a[key].astype(bool).reshape(-1)
    ends |= terminals > 0
    for key, v in (("rewards", rewards), ("terminals", terminals), ("episode ends", ends)):
        if v.shape[0] != n:
            raise DataError(f"{where}: {key} has {v.shape[0]} rows; expected {n}")
    if "next_observations" in a:
        nxt = a["next_observations"].astype(np.float32)
        keep = np.ones(n, bool)
    else:
        nxt = np.concatenate([obs[1:], obs[-1:]], axis=0)
        nxt[terminals > 0] = obs[terminals > 0]  # never bootstrapped; keep it in-episode
        keep = ~ends | (terminals > 0)  # a truncated final step has no next observation
        keep[-1] = terminals[-1] > 0
        # The step before a dropped final step now ends its episode.
        drop = np.flatnonzero(~keep)
        ends[drop[drop > 0] - 1] = True
    out = {
        "observations": obs[keep],
        "actions": act[keep],
        "rewards": rewards[keep],
        "next_observations": nxt[keep],
        "terminals": terminals[keep],
        "lasts": ends[keep],
    }
    if out["observations"].shape[0] == 0:
        raise DataError(f"{where}: no transitions")
    return out


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
