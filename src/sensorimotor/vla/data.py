"""Demonstrations in memory: a LeRobot v3 dataset (from ``vla demos``) as per-episode arrays,
and batches of ``(observation at t, action chunk t..t+H-1)`` for training and validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.vla.demos import ACTION_KEY, IMAGE_PREFIX, STATE_KEY
from sensorimotor.vla.processor import VLAProcessor


@dataclass
class DemoEpisode:
    """One episode: ``images {camera: uint8 (T, H, W, 3)}``, ``state (T, S)``, ``action (T, A)``."""

    images: dict[str, np.ndarray]
    state: np.ndarray
    action: np.ndarray
    instruction: str


def load_demos(
    path: str | Path, cameras: tuple[str, ...], max_episodes: int | None = None
) -> list[DemoEpisode]:
    """Read every episode of a LeRobot dataset (cameras named as in the model config)."""
    from sensorimotor.data.lerobot.reader import LeRobotReader

    reader = LeRobotReader(path)
    keys = {cam: IMAGE_PREFIX + cam for cam in cameras}
    missing = [k for k in keys.values() if k not in reader.video_keys]
    if missing:
        raise DataError(
            f"{path}: the dataset has no camera feature(s) {missing}; it has {reader.video_keys} "
            f"(set model.cameras to names after {IMAGE_PREFIX!r})"
        )
    for key in (STATE_KEY, ACTION_KEY):
        if key not in reader.features:
            raise DataError(f"{path}: the dataset lacks the feature {key!r}")
    episodes = []
    count = (
        len(reader.episodes) if max_episodes is None else min(max_episodes, len(reader.episodes))
    )
    for i in range(count):
        data = reader.episode_data(i)
        task = reader.tasks[int(data["task_index"][0])]
        images = {cam: reader.episode_video(i, key) for cam, key in keys.items()}
        episodes.append(
            DemoEpisode(
                images,
                np.asarray(data[STATE_KEY], np.float32),
                np.asarray(data[ACTION_KEY], np.float32),
                task,
            )
        )
    if not episodes:
        raise DataError(f"{path}: the dataset has no episodes")
    return episodes


class ChunkDataset:
    """Training samples ``(episode, t)``: the observation at ``t`` and actions ``t .. t+H-1``
    (the last action repeated past the episode's end), already processed for the model."""

    def __init__(self, episodes: list[DemoEpisode], processor: VLAProcessor) -> None:
        c = processor.config
        self.processor = processor
        self.horizon = c.horizon
        self.images = np.concatenate(
            [np.stack([e.images[cam] for cam in c.cameras], axis=1) for e in episodes]
        )  # uint8 (N, cameras, H, W, 3)
        self.state = processor.state(np.concatenate([e.state for e in episodes]))
        self.tokens = np.concatenate(
            [np.repeat(processor.tokens([e.instruction]), len(e.state), axis=0) for e in episodes]
        )
        chunks = []
        for e in episodes:
            idx = np.minimum(
                np.arange(len(e.action))[:, None] + np.arange(c.horizon)[None], len(e.action) - 1
            )
            chunks.append(e.action[idx])
        self.actions = processor.actions(np.concatenate(chunks))  # (N, H, A)

    def __len__(self) -> int:
        return len(self.state)

    def batch(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs + targets of samples ``index``."""
        images = self.images[index].astype(np.float32) / 127.5 - 1.0
        return {
            "images": images,
            "tokens": self.tokens[index],
            "state": self.state[index],
            "actions": self.actions[index],
        }


def split_episodes(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train / validation episode indices (at least one of each when ``n >= 2``)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = 0 if n < 2 or val_fraction <= 0 else max(1, int(round(n * val_fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
