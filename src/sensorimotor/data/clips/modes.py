"""Modelling modes: which clip arrays a model sees and predicts (no JAX import, so worker
processes start fast). See ``sensorimotor.data.clips.datasets`` for the table of modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.data.clips.format import Clip, read_clip

Mode = Literal[
    "state_action",
    "pure_state",
    "state_intention",
    "pure_intention",
    "state_intention_controller",
    "syllable_state_intention",
]

#: Mode -> the input array and the targets (name -> (clip key, shift: 1 = the next step's value)).
MODES: dict[str, dict[str, Any]] = {
    "state_action": {"input": "obs", "targets": {"action": ("ctrl", 1)}},
    "pure_state": {"input": "obs", "targets": {"state": ("state", 1)}},
    "state_intention": {"input": "obs", "targets": {"intention": ("latent_mean", 1)}},
    "pure_intention": {"input": "latent_mean", "targets": {"intention": ("latent_mean", 1)}},
    "state_intention_controller": {
        "input": "obs",
        "targets": {"intention": ("latent_mean", 0), "action": ("ctrl", 1)},
    },
    "syllable_state_intention": {
        "input": "syllables+obs",
        "targets": {"intention": ("latent_mean", 0), "action": ("ctrl", 1)},
    },
}


@dataclass
class ClipDataConfig:
    """Where the clips are and how to cut them into training segments."""

    path: str = "saved/clips_rodent"
    dataset: str = "clips"
    mode: Mode = "state_action"
    segment_length: int = 64
    stride: int = 32
    val_fraction: float = 0.2
    split_seed: int = 0
    max_clips: int = 0
    preload: bool = True
    workers: int = 2
    noise_std: float = 0.0
    overfit_single_clip: bool = False
    obs_layout: dict[str, list[int]] | None = None
    state_keys: list[str] = field(default_factory=lambda: ["qpos_local", "qvel", "act"])
    controller_keys: list[str] = field(default_factory=lambda: ["qpos_local", "qvel", "act"])
    n_syllables: int = 0


def _required_keys(mode: str) -> tuple[str, ...]:
    spec = MODES[mode]
    keys = {"obs", "ctrl"}
    keys |= {src for src, _ in spec["targets"].values() if src not in ("state",)}
    if "latent_mean" in spec["input"]:
        keys.add("latent_mean")
    if "syllables" in spec["input"]:
        keys.add("syllables")
    return tuple(sorted(keys))


@dataclass
class ModeArrays:
    """One clip in a mode: ``x (T-1, D_in)`` and targets ``name -> (T-1, D)`` (raw units)."""

    path: Path
    x: np.ndarray
    targets: dict[str, np.ndarray]


def clip_to_mode(
    clip: Clip, cfg: ClipDataConfig, n_syllables: int = 0
) -> tuple[ModeArrays, dict[str, tuple[int, int]]]:
    """The mode's arrays for one clip and the column slices of named features inside ``x``."""
    if cfg.mode not in MODES:
        raise ConfigError(f"data.mode: unknown mode {cfg.mode!r}; expected one of {sorted(MODES)}")
    spec = MODES[cfg.mode]
    layout = clip.layout(cfg.obs_layout)
    for key in {*cfg.state_keys, *cfg.controller_keys}:
        if key not in layout:
            raise DataError(
                f"{clip.path}: observation layout has no slice {key!r}; present: {sorted(layout)}"
            )
    sources: dict[str, np.ndarray | None] = {
        "obs": clip.obs,
        "ctrl": clip.ctrl,
        "latent_mean": clip.latent_mean,
        "state": np.concatenate([clip.obs[:, slice(*layout[k])] for k in cfg.state_keys], 1),
    }
    t = clip.length
    if spec["input"] == "obs":
        x, slices = clip.obs[:-1], dict(layout)
    elif spec["input"] == "latent_mean":
        x, slices = _need(clip, "latent_mean")[:-1], {}
    else:  # syllables + obs
        syl = _need(clip, "syllables")
        if n_syllables <= 0 or syl.max() >= n_syllables or syl.min() < 0:
            raise DataError(
                f"{clip.path}: /syllables values must lie in [0, {n_syllables}), got "
                f"[{syl.min()}, {syl.max()}]"
            )
        onehot = np.eye(n_syllables, dtype=np.float32)[syl]
        x = np.concatenate([onehot, clip.obs], 1)[:-1]
        slices = {"syllables": (0, n_syllables)}
        slices |= {k: (a + n_syllables, b + n_syllables) for k, (a, b) in layout.items()}
    targets = {}
    for name, (src, shift) in spec["targets"].items():
        arr = sources[src] if sources[src] is not None else _need(clip, src)
        targets[name] = arr[shift : t - 1 + shift]
    return ModeArrays(clip.path, x.astype(np.float32), targets), slices


def _need(clip: Clip, key: str) -> np.ndarray:
    value = getattr(clip, key)
    if value is None:
        raise DataError(
            f"{clip.path}: missing key /{key}, which this mode needs "
            f"(run `sensorimotor clips make` / `sensorimotor sequence segment` to add it)"
        )
    return value


def load_mode_arrays(
    path: Path, cfg: ClipDataConfig, n_syllables: int, required: tuple[str, ...]
) -> ModeArrays:
    """Read one clip file and convert it to ``cfg.mode`` (a worker-process entry point)."""
    return clip_to_mode(read_clip(path, require=required), cfg, n_syllables)[0]
