"""Batch training and evaluation of a canvas world model on recorded sessions.

Each session's frames are read and resized once and all its canvases are built once
(:class:`CanvasDataset`); a background thread prepares the next batches (:class:`BatchPrefetcher`)
so the train step never waits for data. Batches are drawn by a generator seeded with the train step,
so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.core.rng import np_rng
from sensorimotor.robots.interface import ActionSpace, Box, jsonable
from sensorimotor.robots.session import SessionReader
from sensorimotor.worldmodels.canvas import CanvasLayout, prepare_frame
from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.replay import pair_key, sample_balanced


@dataclass
class SessionFrames:
    """One session's frames resized for the model, its action indices and metadata."""

    path: Path
    frames: np.ndarray  # (T, h, w, 3) uint8
    actions: np.ndarray  # (T,) int, -1 where no action was taken
    image_size: tuple[int, int]  # the robot's own (H, W)
    has_dot: bool  # observations carry dot_x / dot_y (the toroidal dot)


def read_session_frames(
    path: str | Path, frame_size: tuple[int, int] | None, key: str = "image", progress: bool = True
) -> tuple[SessionFrames, ActionSpace]:
    """Read and resize every ``key`` frame of a session; returns it with the action space."""
    from tqdm import tqdm

    reader = SessionReader(path)
    if len(reader) == 0:
        raise DataError(f"{reader.path}: the session has no steps")
    if isinstance(reader.action_space, Box):
        raise DataError(
            f"{reader.path}: the session's action space is continuous; the canvas world model needs discrete actions"
        )
    first = reader.frame(0, key)
    size = frame_size or tuple(first.shape[:2])
    frames = np.empty((len(reader), size[0], size[1], 3), np.uint8)
    for i in tqdm(
        range(len(reader)),
        desc=f"reading {reader.path.name}",
        unit="frame",
        leave=False,
        disable=not progress,
    ):
        image = reader.frame(i, key)
        if image.shape != first.shape:
            raise DataError(
                f"{reader.path}: frame {i} has shape {image.shape}, the first frame {first.shape}"
            )
        frames[i] = prepare_frame(image, size)
    has_dot = {"dot_x", "dot_y"} <= set(reader.records[0].get("obs", {}))
    data = SessionFrames(
        reader.path, frames, reader.action_indices(), tuple(first.shape[:2]), has_dot
    )
    return data, reader.action_space


def check_same_space(spaces: Sequence[ActionSpace], paths: Sequence[Path]) -> ActionSpace:
    """The common action space of several sessions; a clear error when they differ."""
    first = jsonable(spaces[0])
    for space, path in zip(spaces[1:], paths[1:], strict=True):
        if jsonable(space) != first:
            raise DataError(
                f"{path}: action space {jsonable(space)} differs from {paths[0]}'s {first}; "
                "train on sessions of one robot"
            )
    return spaces[0]


class CanvasDataset:
    """All canvases of one or more sessions, built once: ``canvases (M, H, W, 3)`` uint8."""

    def __init__(
        self, sessions: Sequence[SessionFrames], layout: CanvasLayout, palette: np.ndarray
    ) -> None:
        if not sessions:
            raise DataError("no sessions given")
        self.sessions = list(sessions)
        self.layout = layout
        k = layout.slots
        parts, keys, switches = [], [], []
        for s in self.sessions:
            ends = np.array(
                [t for t in range(k - 1, len(s.frames)) if (s.actions[t - k + 1 : t] >= 0).all()],
                int,
            )
            if len(ends) == 0:
                continue
            windows = ends[:, None] + np.arange(-(k - 1), 1)[None, :]
            parts.append(layout.build(s.frames[windows], s.actions[windows][:, :-1], palette))
            keys += [pair_key(s.frames[t - 1], int(s.actions[t - 1])) for t in ends]
            if k >= 3:
                switches.append(s.actions[ends - 1] != s.actions[ends - 2])
        if not parts:
            raise DataError(
                f"the sessions {[str(s.path) for s in self.sessions]} are too short for a canvas of {k} frames"
            )
        self.canvases = np.concatenate(parts)
        self.pairs = set(keys)
        self.switch = np.concatenate(switches) if switches else None  # last action != previous

    def __len__(self) -> int:
        return len(self.canvases)

    def frames(self) -> np.ndarray:
        """Every frame of every session ``(T, h, w, 3)``."""
        return np.concatenate([s.frames for s in self.sessions])

    def batch_indices(
        self, seed: int, step: int, batch_size: int, switch_fraction: float = 0.0
    ) -> np.ndarray:
        """The canvas indices of train step ``step`` (a pure function of its arguments); see
        :func:`~sensorimotor.worldmodels.replay.sample_balanced` for ``switch_fraction``."""
        rng = np_rng(seed, "batch", step)
        return sample_balanced(rng, len(self), batch_size, self.switch, switch_fraction)


class BatchPrefetcher:
    """Yields ``(step, batch)`` for steps ``start..stop-1``, built ``depth`` steps ahead on a thread
    and already placed on the device."""

    def __init__(
        self,
        dataset: CanvasDataset,
        seed: int,
        batch_size: int,
        start: int,
        stop: int,
        depth: int = 3,
        switch_fraction: float = 0.0,
    ) -> None:
        self.dataset, self.seed, self.batch_size = dataset, seed, batch_size
        self.switch_fraction = switch_fraction
        self.start, self.stop = start, stop
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="canvas-prefetch", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            for step in range(self.start, self.stop):
                idx = self.dataset.batch_indices(
                    self.seed, step, self.batch_size, self.switch_fraction
                )
                batch = jax.device_put(self.dataset.canvases[idx])
                while not self._stop.is_set():
                    try:
                        self._queue.put((step, batch), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._queue.put(e)
            return
        self._queue.put(None)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the thread (safe to call twice)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)


def loss_statistics(losses: np.ndarray) -> dict[str, float]:
    """Mean, median, std and percentiles of per-canvas losses."""
    losses = np.asarray(losses, np.float64)
    if len(losses) == 0:
        return {"count": 0}
    p5, p25, p75, p95 = np.percentile(losses, [5, 25, 75, 95])
    return {
        "count": int(len(losses)),
        "mean": float(losses.mean()),
        "median": float(np.median(losses)),
        "std": float(losses.std()),
        "min": float(losses.min()),
        "p5": float(p5),
        "p25": float(p25),
        "p75": float(p75),
        "p95": float(p95),
        "max": float(losses.max()),
    }


def evaluate_dataset(model: CanvasWorldModel, dataset: CanvasDataset) -> dict[str, Any]:
    """Masked-slot loss of every canvas of ``dataset`` (statistics), and of the copy-last-frame
    baseline."""
    _, losses = model.predict_canvases(dataset.canvases)
    targets = model.layout.target(dataset.canvases).astype(np.float32) / 255.0
    last = model.layout.slot(dataset.canvases, -2).astype(np.float32) / 255.0
    baseline = ((targets - last) ** 2).mean(axis=(1, 2, 3))
    return {"loss": loss_statistics(losses), "baseline": loss_statistics(baseline)}
