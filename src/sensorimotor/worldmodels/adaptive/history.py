"""The adaptive model's recent history: frames, the (normalised) action after each, episodes.

Like :class:`~sensorimotor.worldmodels.history.FrameHistory`, but actions are vectors (a Box robot
has no action indices) and samples span ``k``-step chunks for hierarchy level ``k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class AdaptiveHistory:
    """The last ``capacity`` frames ``(h, w, 3)`` uint8 with global indices ``t`` (0 = first)."""

    def __init__(self, capacity: int, frame_shape: tuple[int, int, int], action_dim: int) -> None:
        self.capacity = capacity
        self.frames = np.zeros((capacity, *frame_shape), np.uint8)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.indices = np.full(capacity, -1, np.int32)  # discrete action index (-1: none / Box)
        self.acted = np.zeros(capacity, bool)
        self.episodes = np.zeros(capacity, np.int32)
        self.count = 0
        self.episode = 0

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    @property
    def oldest(self) -> int:
        return max(0, self.count - self.capacity)

    def append(self, frame: np.ndarray) -> int:
        """Add the newest frame; returns its global index."""
        i = self.count % self.capacity
        self.frames[i], self.acted[i], self.indices[i] = frame, False, -1
        self.episodes[i] = self.episode
        self.count += 1
        return self.count - 1

    def replace_newest(self, frame: np.ndarray) -> int:
        """Overwrite the newest frame (the robot did not act since it was seen)."""
        self.frames[(self.count - 1) % self.capacity] = frame
        return self.count - 1

    def newest_acted(self) -> bool:
        return self.count > 0 and bool(self.acted[(self.count - 1) % self.capacity])

    def set_action(self, vector: np.ndarray, index: int = -1) -> None:
        """Record the action taken after the newest frame."""
        i = (self.count - 1) % self.capacity
        self.actions[i], self.indices[i], self.acted[i] = vector, index, True

    def new_episode(self) -> None:
        self.episode += 1

    def frame(self, t: int) -> np.ndarray:
        return self.frames[t % self.capacity]

    def valid_ends(self, k: int, history: int, *, need_last_action: bool = True) -> np.ndarray:
        """Global indices ``end`` of every held sample of level ``k``: frames
        ``end - k*history, ..., end - k`` as context (with every action after them) and ``end``
        as the target, all in one episode."""
        span = k * history
        ends = np.arange(self.oldest + span, self.count)
        if len(ends) == 0:
            return ends
        offsets = np.arange(-span, 1)
        idx = (ends[:, None] + offsets[None]) % self.capacity
        same = (self.episodes[idx] == self.episodes[idx[:, -1:]]).all(axis=1)
        acted = self.acted[idx[:, :-1]].all(axis=1) if need_last_action else True
        return ends[same & acted]

    def sample(
        self, ends: np.ndarray, k: int, history: int, num_actions: int
    ) -> dict[str, np.ndarray]:
        """Batch of level-``k`` samples ending at ``ends``: context ``(B, H, h, w, 3)``, action
        chunks ``(B, H, k*C)``, target ``(B, h, w, 3)``, chunk classes ``(B,)`` of the last chunk."""
        ends = np.asarray(ends)
        starts = ends[:, None] - k * history + k * np.arange(history)[None]  # (B, H)
        steps = starts[..., None] + np.arange(k)  # (B, H, k)
        acts = self.actions[steps % self.capacity]  # (B, H, k, C)
        out = {
            "context": self.frames[starts % self.capacity],
            "actions": acts.reshape(*acts.shape[:2], -1),
            "target": self.frames[ends % self.capacity],
            "classes": chunk_class(self.indices[steps[:, -1] % self.capacity], num_actions),
        }
        return out

    def context_for_next(self, k: int, history: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Context frames ``(H, h, w, 3)`` ending at the newest frame and the action chunks after
        all but the last ``(H - 1, k*C)``, to predict under candidate actions; ``None`` when the
        history is too short (only level 1 acts, so ``k`` is 1 in practice)."""
        newest = self.count - 1
        frames_t = newest - k * np.arange(history - 1, -1, -1)
        if frames_t[0] < self.oldest:
            return None
        steps = np.arange(frames_t[0], newest)
        idx = steps % self.capacity
        if not self.acted[idx].all():
            return None
        if (self.episodes[frames_t % self.capacity] != self.episode).any():
            return None
        acts = self.actions[idx].reshape(history - 1, -1)
        return self.frames[frames_t % self.capacity], acts

    def state_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames.copy(),
            "actions": self.actions.copy(),
            "indices": self.indices.copy(),
            "acted": self.acted.astype(np.int8),
            "episodes": self.episodes.copy(),
            "count": np.asarray(self.count, np.int64),
            "episode": np.asarray(self.episode, np.int64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.frames[...] = np.asarray(state["frames"])
        self.actions[...] = np.asarray(state["actions"])
        self.indices[...] = np.asarray(state["indices"])
        self.acted[...] = np.asarray(state["acted"]).astype(bool)
        self.episodes[...] = np.asarray(state["episodes"])
        self.count, self.episode = int(state["count"]), int(state["episode"])


def chunk_class(indices: np.ndarray, num_actions: int) -> np.ndarray:
    """``(..., k)`` discrete action indices → one class per chunk (base-``num_actions`` digits);
    -1 where any index is missing (a Box robot)."""
    indices = np.asarray(indices)
    weights = num_actions ** np.arange(indices.shape[-1])
    out = (np.maximum(indices, 0) * weights).sum(axis=-1)
    return np.where((indices >= 0).all(axis=-1), out, -1).astype(np.int32)
