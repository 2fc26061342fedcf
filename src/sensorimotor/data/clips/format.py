"""The HDF5 motion-clip format: a folder of ``clip_<i>.h5``.

Each clip holds ``/obs (T, D_obs)``, ``/ctrl (T, A)``, ``/latent_mean (T, L)`` and optionally
``/syllables (T,)``; anything else (``/reference``, ``/qpos``, ``/init``) is extra and read as a
pytree. ``ctrl[t]`` is the control applied between ``obs[t-1]`` and ``obs[t]``, so the expert's
response to ``obs[t]`` is ``ctrl[t+1]``. The observation layout (name -> ``[start, stop)`` column
slice) lives in the file attribute ``obs_layout``; a config may override it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.data.h5tree import group_to_tree, read_attrs, tree_to_group, write_attrs

CLIP_PATTERN = re.compile(r"^clip_(\d+)\.h5$")
CORE_KEYS = ("obs", "ctrl", "latent_mean", "syllables")
ObsLayout = dict[str, tuple[int, int]]


@dataclass
class Clip:
    """One clip in memory: ``obs (T, D)``, ``ctrl (T, A)``, optional ``latent_mean (T, L)``,
    ``syllables (T,)``, the file attributes and any extra groups as a pytree."""

    path: Path
    obs: np.ndarray
    ctrl: np.ndarray
    latent_mean: np.ndarray | None = None
    syllables: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        """Number of time steps ``T``."""
        return int(self.obs.shape[0])

    def layout(self, override: Mapping[str, Sequence[int]] | None = None) -> ObsLayout:
        """The observation layout: ``override`` if given, else the file's ``obs_layout``."""
        return parse_layout(override or self.attrs.get("obs_layout"), self.obs.shape[1], self.path)


def parse_layout(raw: Any, d_obs: int, source: str | Path = "?") -> ObsLayout:
    """Validate a layout mapping name -> [start, stop) against an observation width ``d_obs``."""
    if not isinstance(raw, Mapping) or not raw:
        raise DataError(
            f"{source}: attribute 'obs_layout' must map names to [start, stop) slices, got {raw!r}"
        )
    out: ObsLayout = {}
    for name, sl in raw.items():
        if not (isinstance(sl, Sequence) and len(sl) == 2):
            raise DataError(f"{source}: obs_layout[{name!r}] must be [start, stop], got {sl!r}")
        a, b = int(sl[0]), int(sl[1])
        if not 0 <= a < b <= d_obs:
            raise DataError(
                f"{source}: obs_layout[{name!r}] = [{a}, {b}) is outside the observation width "
                f"D_obs={d_obs}"
            )
        out[str(name)] = (a, b)
    return out


def clip_paths(directory: str | Path) -> list[Path]:
    """The ``clip_<i>.h5`` files in ``directory``, ordered by ``i``; an error if there are none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"clip folder {directory} does not exist")
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CLIP_PATTERN.match(p.name))]
    if not found:
        raise DataError(f"{directory}: no clip_<i>.h5 files found")
    return [p for _, p in sorted(found)]


def _check(path: Path, key: str, arr: np.ndarray, ndim: int, length: int | None) -> None:
    if arr.ndim != ndim:
        raise DataError(f"{path}: key /{key} must have {ndim} dims, got shape {tuple(arr.shape)}")
    if length is not None and arr.shape[0] != length:
        raise DataError(
            f"{path}: key /{key} has {arr.shape[0]} steps, expected T={length} (as /obs)"
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{path}: key /{key} holds NaN/Inf (first at index {tuple(bad)})")


def read_clip(
    path: str | Path, *, require: Sequence[str] = ("obs", "ctrl"), extra: bool = False
) -> Clip:
    """Load and validate one clip; ``require`` lists keys that must be present."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 clip ({exc})") from exc
    with f:
        for key in require:
            if key not in f:
                raise DataError(f"{path}: missing key /{key}; present: {sorted(f.keys())}")
        data: dict[str, np.ndarray | None] = {}
        for key in CORE_KEYS:
            if key in f:
                try:
                    data[key] = np.asarray(f[key][()])
                except (OSError, ValueError, TypeError) as exc:
                    raise DataError(f"{path}: cannot read key /{key}: {exc}") from exc
            else:
                data[key] = None
        attrs = read_attrs(f)
        rest = {k: group_to_tree(f[k], file=path) for k in f if k not in CORE_KEYS} if extra else {}
    obs, ctrl = data["obs"], data["ctrl"]
    if obs is None or ctrl is None:
        raise DataError(f"{path}: a clip needs both /obs and /ctrl")
    _check(path, "obs", obs, 2, None)
    t = obs.shape[0]
    _check(path, "ctrl", ctrl, 2, t)
    if data["latent_mean"] is not None:
        _check(path, "latent_mean", data["latent_mean"], 2, t)
    if data["syllables"] is not None:
        _check(path, "syllables", data["syllables"], 1, t)
    return Clip(
        path=path,
        obs=obs.astype(np.float32),
        ctrl=ctrl.astype(np.float32),
        latent_mean=None if data["latent_mean"] is None else data["latent_mean"].astype(np.float32),
        syllables=None if data["syllables"] is None else data["syllables"].astype(np.int32),
        attrs=attrs,
        extra=rest,
    )


def write_clip(path: str | Path, arrays: Mapping[str, Any], attrs: Mapping[str, Any]) -> Path:
    """Atomically write a clip (arrays may nest: dicts/lists become groups)."""
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with h5py.File(tmp, "w") as f:
        tree_to_group(f, dict(arrays), compression="gzip")
        write_attrs(f, attrs)
    os.replace(tmp, path)
    return path


def update_clip(path: str | Path, key: str, value: np.ndarray) -> None:
    """Replace (or add) one dataset in an existing clip, e.g. ``latent_mean`` or ``syllables``."""
    path = Path(path)
    with h5py.File(path, "a") as f:
        t = f["obs"].shape[0]
        if value.shape[0] != t:
            raise DataError(f"{path}: new /{key} has {value.shape[0]} steps, expected T={t}")
        if key in f:
            del f[key]
        f.create_dataset(key, data=value, compression="gzip")
