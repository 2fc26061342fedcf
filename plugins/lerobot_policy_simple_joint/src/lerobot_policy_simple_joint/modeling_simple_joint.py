"""``SimpleJointPolicy``: holds every joint at its target and moves one joint in discrete steps.

The target starts at the first observed state. Every ``frames_per_action`` calls of
``select_action`` a new discrete action starts (0 stay, 1 +delta, 2 -delta on ``joint_name``) and
is appended to the episode's JSONL log with its wall-clock time and frame number.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.policies.pretrained import PreTrainedPolicy

from lerobot_policy_simple_joint.configuration_simple_joint import JOINTS, SimpleJointConfig

ACTION_NAMES = ("STAY", "MOVE+", "MOVE-")
_SIGNS = (0.0, 1.0, -1.0)
_CYCLE = (1, 0, 2, 0)


class SimpleJointPolicy(PreTrainedPolicy):
    """Three discrete actions on one joint; see the module docstring."""

    config_class = SimpleJointConfig
    name = "simple_joint"

    def __init__(self, config: SimpleJointConfig, dataset_meta: Any = None, **kwargs: Any) -> None:
        super().__init__(config)
        self.config = config
        self.joint_index = _joint_index(config, dataset_meta)
        self.clock = time.time  # replaceable (a simulated arm logs simulated time)
        self.episode = 0
        self.actions_taken = 0
        self.reset()

    def reset(self) -> None:
        """Start a new episode: fresh schedule, target taken from the next observation, new log.

        LeRobot calls ``reset`` before every episode (and once more after building the policy);
        an episode without actions does not count, so log ``k`` is episode ``k`` of the dataset.
        """
        if self.actions_taken > 0:
            self.episode += 1
        self.frame = 0
        self.actions_taken = 0
        self.target: torch.Tensor | None = None
        self._rng = np.random.default_rng(self.config.seed + self.episode)

    def header(self) -> dict[str, Any]:
        """Every recording parameter (the first line of each log)."""
        c = self.config
        return {
            "type": "header",
            "format": "simple_joint_action_log",
            "version": 1,
            "episode": self.episode,
            "joint_name": c.joint_name,
            "joint_index": self.joint_index,
            "position_delta": c.position_delta,
            "action_duration": c.action_duration,
            "fps": c.fps,
            "frames_per_action": c.frames_per_action,
            "mode": c.mode,
            "sequence": list(c.sequence),
            "seed": c.seed,
            "action_names": list(ACTION_NAMES),
            "start_time": dt.datetime.now().astimezone().isoformat(),
        }

    def next_action(self) -> int:
        """The next discrete action of the schedule."""
        k = self.actions_taken
        if self.config.mode == "random":
            return int(self._rng.integers(3))
        if self.config.mode == "sequence":
            return self.config.sequence[k] if k < len(self.config.sequence) else 0
        return _CYCLE[k % len(_CYCLE)]

    @torch.no_grad()
    def select_action(self, batch: dict[str, torch.Tensor], **kwargs: Any) -> torch.Tensor:
        """The joint targets ``(B, D)`` for this frame."""
        state = batch["observation.state"]
        if self.target is None:
            self.target = state[0].detach().clone().float()
        if self.frame % self.config.frames_per_action == 0:
            if self.actions_taken == 0:
                self._write(self.header(), mode="w")
            action = self.next_action()
            self.target[self.joint_index] += _SIGNS[action] * self.config.position_delta
            self._write(
                {
                    "type": "action",
                    "index": self.actions_taken,
                    "action": action,
                    "name": ACTION_NAMES[action],
                    "t": self.clock(),
                    "frame": self.frame,
                    "target": float(self.target[self.joint_index]),
                }
            )
            self.actions_taken += 1
        self.frame += 1
        return self.target.to(state.device).unsqueeze(0).expand(state.shape[0], -1).clone()

    def predict_action_chunk(self, batch: dict[str, torch.Tensor], **kwargs: Any) -> torch.Tensor:
        return self.select_action(batch).unsqueeze(1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """Nothing to learn: a zero loss."""
        return torch.zeros(()), {}

    def get_optim_params(self) -> list:
        return []

    def _write(self, record: dict[str, Any], mode: str = "a") -> None:
        if not self.config.log_dir:
            return
        folder = Path(self.config.log_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"episode_{self.episode:06d}.jsonl").open(mode) as f:
            f.write(json.dumps(record) + "\n")


def _joint_index(config: SimpleJointConfig, dataset_meta: Any) -> int:
    """Where ``joint_name`` sits in the action vector (from the dataset's action names if known)."""
    names: list[str] = []
    features = getattr(dataset_meta, "features", None) or {}
    if "action" in features:
        names = list(features["action"].get("names") or [])
    for i, name in enumerate(names):
        if name.split(".")[0] == config.joint_name:
            return i
    return JOINTS.index(config.joint_name)
