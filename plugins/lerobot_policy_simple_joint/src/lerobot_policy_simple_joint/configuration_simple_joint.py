"""``SimpleJointConfig``: which joint, how far, how long, which action schedule, where to log."""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import NormalizationMode
from lerobot.optim.optimizers import AdamConfig

JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
MODES = ("random", "sequence", "deterministic")


@PreTrainedConfig.register_subclass("simple_joint")
@dataclass
class SimpleJointConfig(PreTrainedConfig):
    """Three discrete actions (0 stay, 1 +delta, 2 -delta) on ``joint_name``; see the README."""

    joint_name: str = "shoulder_pan"
    position_delta: float = 10.0  # in the robot's position units
    action_duration: float = 0.5  # seconds per discrete action
    fps: int = 30  # frames per second of the recording loop (one select_action per frame)
    mode: str = "random"
    sequence: list[int] = field(default_factory=list)
    seed: int = 0
    log_dir: str | None = None  # where the per-episode JSONL action logs go (None: no logs)
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.IDENTITY,
            "STATE": NormalizationMode.IDENTITY,
            "ACTION": NormalizationMode.IDENTITY,
        }
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.joint_name not in JOINTS:
            raise ValueError(f"joint_name must be one of {list(JOINTS)}, got {self.joint_name!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.mode == "sequence" and not self.sequence:
            raise ValueError("mode 'sequence' needs a non-empty sequence of actions (0, 1, 2)")
        if any(a not in (0, 1, 2) for a in self.sequence):
            raise ValueError(f"sequence entries must be 0, 1 or 2, got {self.sequence}")
        if self.action_duration <= 0 or self.fps <= 0 or self.position_delta <= 0:
            raise ValueError("action_duration, fps and position_delta must be positive")

    @property
    def frames_per_action(self) -> int:
        """Loop iterations each discrete action lasts."""
        return max(1, round(self.action_duration * self.fps))

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> None:
        return None

    @property
    def reward_delta_indices(self) -> None:
        return None

    def get_optimizer_preset(self) -> AdamConfig:
        return AdamConfig(lr=0.0)  # nothing to train

    def get_scheduler_preset(self) -> None:
        return None

    def validate_features(self) -> None:
        if "observation.state" not in (self.input_features or {}):
            raise ValueError("simple_joint needs observation.state (the joint positions) as input")
