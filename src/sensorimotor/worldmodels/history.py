"""Recent history of an online run: a ring buffer of frames and the actions taken after them."""

from __future__ import annotations

from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError


class FrameHistory:
    """The last ``capacity`` frames ``(h, w, 3)`` uint8, the action index after each (-1 = none
    yet) and an episode id (canvases never span two episodes, e.g. before and after a resume with a
    fresh robot). Frames are addressed by their global index ``t`` (0 = first frame ever seen)."""

    def __init__(self, capacity: int, frame_shape: tuple[int, int, int], slots: int = 3) -> None:
        if capacity < slots:
            raise ValueError(f"history capacity must be >= {slots} (one canvas), got {capacity}")
        self.capacity = capacity
        self.slots = slots
        self.frames = np.zeros((capacity, *frame_shape), np.uint8)
        self.actions = np.full(capacity, -1, np.int32)
        self.episodes = np.zeros(capacity, np.int32)
        self.complete = np.zeros(capacity, bool)  # frame ends a full canvas of `slots` frames
        self.count = 0
        self.episode = 0

    def append(self, frame: np.ndarray) -> int:
        """Add the newest frame; returns its global index."""
        i = self.count % self.capacity
        self.frames[i] = frame
        self.actions[i] = -1
        self.episodes[i] = self.episode
        self.count += 1
        self.complete[i] = self.window_ok(self.count - 1, self.slots)
        return self.count - 1

    def set_action(self, action: int) -> None:
        """Record the action taken after the newest frame."""
        if self.count == 0:
            raise RuntimeError("no frame to attach an action to")
        self.actions[(self.count - 1) % self.capacity] = action

    def new_episode(self) -> None:
        """Frames appended from now on do not continue the previous ones."""
        self.episode += 1

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    def has(self, t: int) -> bool:
        """Whether frame ``t`` is still held."""
        return max(0, self.count - self.capacity) <= t < self.count

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` (global index)."""
        if not self.has(t):
            raise IndexError(
                f"frame {t} is not in the history (holds {self.oldest}..{self.count - 1})"
            )
        return self.frames[t % self.capacity]

    def action(self, t: int) -> int:
        """The action index taken after frame ``t`` (-1 when none yet)."""
        if not self.has(t):
            raise IndexError(f"frame {t} is not in the history")
        return int(self.actions[t % self.capacity])

    @property
    def oldest(self) -> int:
        return max(0, self.count - self.capacity)

    def window_ok(self, end: int, length: int, last_action: bool = False) -> bool:
        """Whether frames ``end-length+1 .. end`` are held, form one episode and have their actions
        (the last frame's action too when ``last_action``)."""
        start = end - length + 1
        if start < self.oldest or end >= self.count:
            return False
        idx = np.arange(start, end + 1) % self.capacity
        if (self.episodes[idx] != self.episodes[idx[-1]]).any():
            return False
        acts = self.actions[idx if last_action else idx[:-1]]
        return bool((acts >= 0).all())

    def window(self, end: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``(length, h, w, 3)`` ending at ``end`` and the ``length`` actions after them."""
        idx = np.arange(end - length + 1, end + 1) % self.capacity
        return self.frames[idx], self.actions[idx]

    def valid_ends(self) -> np.ndarray:
        """Global indices ``t`` that end a complete canvas (``slots`` frames of one episode)."""
        ends = np.arange(self.oldest + self.slots - 1, self.count)
        return ends[self.complete[ends % self.capacity]]

    def state_dict(self) -> dict[str, Any]:
        """Arrays and counters for a checkpoint."""
        return {
            "frames": self.frames,
            "actions": self.actions,
            "episodes": self.episodes,
            "complete": self.complete.astype(np.int8),
            "count": np.asarray(self.count, np.int64),
            "episode": np.asarray(self.episode, np.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output; a clear error when the shapes disagree."""
        frames = np.asarray(state["frames"])
        if frames.shape != self.frames.shape:
            raise DataError(
                f"checkpoint history holds frames of shape {frames.shape}, the model expects "
                f"{self.frames.shape} (trainer.history and model.frame_size must match the run)"
            )
        self.frames[...] = frames
        self.actions[...] = np.asarray(state["actions"])
        self.episodes[...] = np.asarray(state["episodes"])
        self.complete[...] = np.asarray(state["complete"]).astype(bool)
        self.count = int(state["count"])
        self.episode = int(state["episode"])
