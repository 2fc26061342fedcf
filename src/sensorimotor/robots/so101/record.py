"""The ``lerobot-record`` command for a simple_joint recording, and the verification preview.

``lerobot_record_command`` turns the recording parameters into the command line (the policy's
action log goes to ``<root>/meta/discrete_action_logs``, where ``convert lerobot`` looks);
``episode_time`` is the sequence's length plus 5 s of slack; ``verification_preview`` runs
[MOVE+, STAY, MOVE−, STAY] on a robot and lays the frames out as a canvas strip, each separator
coloured by the action that leads to the next frame.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.robots.so101.constants import JOINTS

VERIFICATION = (1, 0, 2, 0)  # MOVE+, STAY, MOVE-, STAY
SLACK_SECONDS = 5.0


@dataclass
class RecordPlan:
    """Everything ``lerobot-record`` needs for a simple_joint recording on a real SO-101."""

    port: str
    repo_id: str
    root: str
    joint_name: str = "shoulder_pan"
    position_delta: float = 10.0
    action_duration: float = 0.5
    mode: str = "sequence"
    sequence: list[int] = field(default_factory=list)
    episodes: int = 1
    fps: int = 30
    episode_time: float | None = None
    robot_id: str = "so101_follower"
    cameras: dict[str, str] = field(
        default_factory=lambda: {"base_0_rgb": "0", "left_wrist_0_rgb": "1"}
    )
    camera_width: int = 640
    camera_height: int = 480
    task: str = "move one joint"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.joint_name not in JOINTS:
            raise UserError(f"--joint-name must be one of {list(JOINTS)}, got {self.joint_name!r}")
        if self.mode not in ("random", "sequence", "deterministic"):
            raise UserError(f"--mode must be random, sequence or deterministic, got {self.mode!r}")
        if self.mode == "sequence" and not self.sequence:
            raise UserError("--mode sequence needs --sequence (e.g. 1,0,2,0)")
        if any(a not in (0, 1, 2) for a in self.sequence):
            raise UserError(f"--sequence entries must be 0, 1 or 2, got {self.sequence}")
        if self.action_duration <= 0 or self.position_delta <= 0 or self.fps <= 0:
            raise UserError("--action-duration, --position-delta and --fps must be positive")


def episode_time(plan: RecordPlan) -> float:
    """Seconds per episode: the sequence's duration + 5 s (random/deterministic: as given)."""
    if plan.mode == "sequence":
        return round(len(plan.sequence) * plan.action_duration + SLACK_SECONDS, 3)
    if plan.episode_time is None:
        raise UserError(f"--mode {plan.mode} runs forever; give --episode-time")
    return plan.episode_time


def lerobot_record_command(plan: RecordPlan) -> list[str]:
    """The ``lerobot-record`` argument list for ``plan``."""
    cameras = ", ".join(
        f"{name}: {{type: opencv, index_or_path: {source}, width: {plan.camera_width}, "
        f"height: {plan.camera_height}, fps: {plan.fps}}}"
        for name, source in plan.cameras.items()
    )
    sequence = "[" + ",".join(str(a) for a in plan.sequence) + "]"
    return [
        "lerobot-record",
        "--robot.type=so101_follower",
        f"--robot.port={plan.port}",
        f"--robot.id={plan.robot_id}",
        f"--robot.cameras={{ {cameras} }}",
        f"--dataset.repo_id={plan.repo_id}",
        f"--dataset.root={plan.root}",
        f"--dataset.num_episodes={plan.episodes}",
        f"--dataset.episode_time_s={episode_time(plan)}",
        "--dataset.reset_time_s=5",
        f"--dataset.fps={plan.fps}",
        f"--dataset.single_task={plan.task}",
        "--dataset.push_to_hub=false",
        "--policy.type=simple_joint",
        "--policy.device=cpu",
        f"--policy.joint_name={plan.joint_name}",
        f"--policy.position_delta={plan.position_delta}",
        f"--policy.action_duration={plan.action_duration}",
        f"--policy.fps={plan.fps}",
        f"--policy.mode={plan.mode}",
        f"--policy.sequence={sequence}",
        f"--policy.seed={plan.seed}",
        f"--policy.log_dir={plan.root}/meta/discrete_action_logs",
    ]


def format_command(argv: Sequence[str]) -> str:
    """A copy-pasteable shell command, one argument per line."""
    return " \\\n  ".join(shlex.quote(a) for a in argv)


def verification_preview(
    step: Callable[[int], None],
    capture: Callable[[], np.ndarray],
    palette: np.ndarray,
    sequence: Sequence[int] = VERIFICATION,
) -> np.ndarray:
    """Run ``sequence`` (``step(action)`` each, ``capture()`` before and after) → ``uint8`` strip.

    The strip reads left to right: frame, separator in ``palette[action]`` (the canvas world
    model's action colours), next frame …
    """
    frames = [capture()]
    for action in sequence:
        step(action)
        frames.append(capture())
    height = frames[0].shape[0]
    width = max(8, frames[0].shape[1] // 16)
    parts = [frames[0]]
    for action, frame in zip(sequence, frames[1:], strict=True):
        parts.append(np.broadcast_to(palette[action], (height, width, 3)))
        parts.append(frame)
    return np.concatenate(parts, axis=1).astype(np.uint8)
