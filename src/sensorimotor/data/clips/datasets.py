"""Clip datasets for sequence modelling: modes, segments, a by-clip split, normalisation, noise.

A *mode* says what the model sees and predicts (``s`` = observation, ``a`` = ctrl, ``i`` = intention
``latent_mean``, ``y`` = syllable one-hot); with the file convention ``expert(obs[t]) = ctrl[t+1]``:

============================  =========================  ====================================
mode                          input at t                 targets at t
============================  =========================  ====================================
state_action                  s_t                        action a_{t+1}
pure_state                    s_t                        state s_{t+1} (``state_keys`` slices)
state_intention               s_t                        intention i_{t+1}
pure_intention                i_t                        intention i_{t+1}
state_intention_controller    s_t                        intention i_t, action a_{t+1}
syllable_state_intention      (y_t, s_t)                 intention i_t, action a_{t+1}
============================  =========================  ====================================
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.core.normalize import Normalizer
from sensorimotor.core.registry import Registry
from sensorimotor.core.rng import np_rng
from sensorimotor.data.clips.format import Clip, clip_paths, parse_layout, read_clip
from sensorimotor.data.clips.modes import (
    MODES,
    ClipDataConfig,
    ModeArrays,
    _required_keys,
    clip_to_mode,
    load_mode_arrays,
)


def split_clips(
    paths: Sequence[Path], val_fraction: float, seed: int
) -> tuple[list[Path], list[Path]]:
    """A seeded split by clip: ``(train, val)``; at least one of each when there are 2+ clips."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
    order = np_rng(seed, "clip-split").permutation(len(paths))
    n_val = int(round(val_fraction * len(paths)))
    if val_fraction > 0 and len(paths) >= 2:
        n_val = min(max(n_val, 1), len(paths) - 1)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [paths[i] for i in train], [paths[i] for i in val]


class ClipDataset:
    """Segments of clips in one mode, split by clip, normalised with train-set statistics."""

    def __init__(self, cfg: ClipDataConfig, *, normalizers: dict[str, Normalizer] | None = None):
        if cfg.mode not in MODES:
            raise ConfigError(
                f"data.mode: unknown mode {cfg.mode!r}; expected one of {sorted(MODES)}"
            )
        if cfg.segment_length < 2 or cfg.stride < 1:
            raise ConfigError(
                f"data.segment_length must be >= 2 and data.stride >= 1, got "
                f"{cfg.segment_length}, {cfg.stride}"
            )
        self.cfg = cfg
        paths = clip_paths(cfg.path)
        if cfg.max_clips > 0:
            paths = paths[: cfg.max_clips]
        if cfg.overfit_single_clip:
            self.train_paths, self.val_paths = paths[:1], paths[:1]
        else:
            self.train_paths, self.val_paths = split_clips(paths, cfg.val_fraction, cfg.split_seed)
        self.required = _required_keys(cfg.mode)
        first = read_clip(paths[0], require=self.required)
        self.n_syllables = cfg.n_syllables
        if "syllables" in MODES[cfg.mode]["input"] and self.n_syllables <= 0:
            self.n_syllables = int(first.attrs.get("n_syllables", 0)) or self._max_syllable(paths)
        example, self.slices = clip_to_mode(first, cfg, self.n_syllables)
        self.d_in = example.x.shape[1]
        self.target_dims = {k: v.shape[1] for k, v in example.targets.items()}
        self.attrs = first.attrs
        self.layout = first.layout(cfg.obs_layout)
        self._arrays: dict[str, list[ModeArrays]] = {}
        if cfg.preload:
            for split in ("train", "val"):
                self._arrays[split] = self._load(self.paths(split))
        self.normalizers = normalizers or self._fit_normalizers()
        self._windows = {s: self._index(s) for s in ("train", "val")}
        if not self._windows["train"]:
            raise DataError(
                f"{cfg.path}: no training clip is longer than segment_length={cfg.segment_length}"
            )

    # -- loading ------------------------------------------------------------------------------
    def paths(self, split: str) -> list[Path]:
        """Clip files of ``split`` (``train`` or ``val``)."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return self.train_paths if split == "train" else self.val_paths

    def _max_syllable(self, paths: Sequence[Path]) -> int:
        top = 0
        for p in paths:
            with h5py.File(p, "r") as f:
                if "syllables" not in f:
                    raise DataError(f"{p}: missing key /syllables, which this mode needs")
                top = max(top, int(np.max(f["syllables"][()])) + 1)
        return top

    def load_clip(self, path: Path) -> ModeArrays:
        """One clip converted to this dataset's mode (raw units)."""
        return load_mode_arrays(path, self.cfg, self.n_syllables, self.required)

    def _load(self, paths: Sequence[Path]) -> list[ModeArrays]:
        """Read clips, in ``workers`` worker processes when there are more than one."""
        if self.cfg.workers > 1 and len(paths) > 2 * self.cfg.workers:
            n = len(paths)
            with ProcessPoolExecutor(self.cfg.workers, mp_context=mp.get_context("spawn")) as pool:
                return list(
                    pool.map(
                        load_mode_arrays,
                        paths,
                        [self.cfg] * n,
                        [self.n_syllables] * n,
                        [self.required] * n,
                        chunksize=max(1, n // (4 * self.cfg.workers)),
                    )
                )
        return [self.load_clip(p) for p in paths]

    def clips(self, split: str) -> list[ModeArrays]:
        """All clips of ``split`` in raw units (loaded now when streaming)."""
        return self._arrays[split] if split in self._arrays else self._load(self.paths(split))

    def _fit_normalizers(self) -> dict[str, Normalizer]:
        clips = self.clips("train")
        out = {"x": Normalizer.fit(np.concatenate([c.x for c in clips]))}
        for name in self.target_dims:
            out[name] = Normalizer.fit(np.concatenate([c.targets[name] for c in clips]))
        return out

    def _index(self, split: str) -> list[tuple[int, int]]:
        lengths = (
            [c.x.shape[0] for c in self._arrays[split]]
            if split in self._arrays
            else [_clip_length(p) - 1 for p in self.paths(split)]
        )
        length = self.cfg.segment_length
        return [
            (i, s) for i, n in enumerate(lengths) for s in range(0, n - length + 1, self.cfg.stride)
        ]

    # -- batches ------------------------------------------------------------------------------
    def num_windows(self, split: str) -> int:
        """Number of segments in ``split``."""
        return len(self._windows[split])

    def _window(
        self, split: str, clip_i: int, start: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        stop = start + self.cfg.segment_length
        if split in self._arrays:
            c = self._arrays[split][clip_i]
            return c.x[start:stop], {k: v[start:stop] for k, v in c.targets.items()}
        return self._read_window(self.paths(split)[clip_i], start, stop)

    def _read_window(
        self, path: Path, start: int, stop: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Stream one segment straight from the file (reads only ``[start, stop + 1)``)."""
        with h5py.File(path, "r") as f:
            part = {k: np.asarray(f[k][start : stop + 1]) for k in self.required}
            attrs = dict(f.attrs)
        clip = Clip(
            path=path,
            obs=part["obs"].astype(np.float32),
            ctrl=part["ctrl"].astype(np.float32),
            latent_mean=part.get("latent_mean"),
            syllables=part.get("syllables"),
            attrs={"obs_layout": _decode(attrs.get("obs_layout"))},
        )
        arrays, _ = clip_to_mode(clip, self.cfg, self.n_syllables)
        return arrays.x, arrays.targets

    def normalize_batch(
        self, x: np.ndarray, targets: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """``{"x": (..., D_in), name: (..., D)}`` in normalised units."""
        out = {"x": np.asarray(self.normalizers["x"].normalize(x), np.float32)}
        for k, v in targets.items():
            out[k] = np.asarray(self.normalizers[k].normalize(v), np.float32)
        return out

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        seed: int = 0,
        epochs: int | None = None,
        shuffle: bool = True,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Normalised batches ``{"x": (B, L, D_in), target: (B, L, D)}``; training batches get
        Gaussian noise (``noise_std``, normalised units) on ``x``. ``epochs=None`` loops forever."""
        windows = self._windows[split]
        if not windows:
            raise DataError(f"{self.cfg.path}: split {split!r} has no segments")
        rng = np_rng(seed, "batches", split)
        epoch = 0
        while epochs is None or epoch < epochs:
            order = rng.permutation(len(windows)) if shuffle else np.arange(len(windows))
            for i in range(0, len(order) - batch_size + 1 if shuffle else len(order), batch_size):
                chosen = [windows[j] for j in order[i : i + batch_size]]
                parts = [self._window(split, ci, s) for ci, s in chosen]
                x = np.stack([p[0] for p in parts])
                targets = {k: np.stack([p[1][k] for p in parts]) for k in self.target_dims}
                batch = self.normalize_batch(x, targets)
                if split == "train" and self.cfg.noise_std > 0:
                    batch["x"] = batch["x"] + rng.normal(
                        0, self.cfg.noise_std, batch["x"].shape
                    ).astype(np.float32)
                yield batch
            epoch += 1
            if len(windows) < batch_size and shuffle:
                raise DataError(
                    f"{self.cfg.path}: split {split!r} has {len(windows)} segments, fewer than "
                    f"batch_size={batch_size}"
                )

    def normalizer_dict(self) -> dict[str, dict[str, Any]]:
        """All normalisers as plain data (for checkpoints)."""
        return {k: v.to_dict() for k, v in self.normalizers.items()}


def _clip_length(path: Path) -> int:
    try:
        with h5py.File(path, "r") as f:
            return int(f["obs"].shape[0])
    except (OSError, KeyError) as exc:
        raise DataError(f"{path}: cannot read /obs ({exc})") from exc


def _decode(value: Any) -> Any:
    import json

    if isinstance(value, bytes):
        value = value.decode()
    return json.loads(value) if isinstance(value, str) else value


def normalizers_from_dict(data: dict[str, dict[str, Any]]) -> dict[str, Normalizer]:
    """Inverse of :meth:`ClipDataset.normalizer_dict`."""
    return {k: Normalizer.from_dict(v) for k, v in data.items()}


DATASETS = Registry("dataset", {"clips": "sensorimotor.data.clips.datasets:ClipDataset"})


def make_dataset(cfg: ClipDataConfig, **kwargs: Any) -> ClipDataset:
    """The dataset named ``cfg.dataset`` from the registry."""
    return DATASETS.get(cfg.dataset)(cfg, **kwargs)


__all__ = [
    "DATASETS",
    "MODES",
    "ClipDataConfig",
    "ClipDataset",
    "ModeArrays",
    "clip_to_mode",
    "make_dataset",
    "normalizers_from_dict",
    "parse_layout",
    "split_clips",
]
