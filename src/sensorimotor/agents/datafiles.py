"""Replay buffers on disk: NPZ / HDF5 dataset files and recorded sessions.

Dataset files hold ``observations (N, D)``, ``actions (N, A)`` and optionally ``rewards``,
``next_observations``, ``terminals`` and episode ends (``lasts``, ``truncations``, ``timeouts``);
normalisation statistics are computed once and cached beside the file (``<file>.stats.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.agents.buffer import ReplayBuffer
from sensorimotor.core.errors import DataError
from sensorimotor.core.normalize import Normalizer

FILE_SUFFIXES = (".npz", ".h5", ".hdf5")


def save_buffer(
    buf: ReplayBuffer, path: str | Path, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write the stored steps to ``.npz`` or ``.h5``/``.hdf5`` (atomically)."""
    path = Path(path)
    if path.suffix not in FILE_SUFFIXES:
        raise DataError(f"{path}: dataset files must end in one of {FILE_SUFFIXES}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = buf.arrays()
    meta = {**buf.metadata, **dict(metadata or {})}
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


def buffer_from_arrays(
    arrays: Mapping[str, np.ndarray],
    *,
    capacity: int | None = None,
    where: str = "arrays",
) -> ReplayBuffer:
    """A buffer holding ``arrays`` (see :func:`load_buffer` for the accepted keys)."""
    arrays = _complete_arrays(arrays, where)
    obs = arrays["observations"]
    n = obs.shape[0]
    buf = ReplayBuffer(capacity or max(n, 1), obs.shape[1], arrays["actions"].shape[1])
    buf.add_batch(arrays)
    return buf


def load_buffer(
    path: str | Path, *, capacity: int | None = None, group: str | None = None
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
    buf = buffer_from_arrays(arrays, capacity=capacity, where=str(path))
    buf.metadata = meta
    _load_cached_stats(buf, path)
    return buf


def _load_cached_stats(buf: ReplayBuffer, path: Path) -> None:
    """Reuse ``<path>.stats.json`` when it matches the file; otherwise compute and write it."""
    side = path.with_name(path.name + ".stats.json")
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "steps": len(buf)}
    if side.is_file():
        try:
            cached = json.loads(side.read_text())
            if cached.get("key") == key:
                buf.set_stats({k: Normalizer.from_dict(v) for k, v in cached["stats"].items()})
                return
        except (OSError, ValueError, KeyError, DataError):
            pass
    stats = buf.stats()
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


def buffer_from_sessions(
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
    buf = buffer_from_arrays(arrays, capacity=capacity, where="sessions")
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
