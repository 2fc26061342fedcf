"""dm_control suite tasks as robots: :class:`DmControlEnv` wrapped by :class:`GymRobot`.

Observation: ``image`` (``uint8 (H, W, 3)`` from ``camera_id``), ``obs`` (the flat float32
task observation), ``reward``, ``terminated``, ``truncated``, ``episode``. Actions: a
:class:`~sensorimotor.robots.interface.Box` ``{"action": float32 (A,)}`` from the task's
action spec. An episode that ends is reset by the next action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensorimotor.core.config import config_to_dict
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.gym import GymRobot
from sensorimotor.sim.dm_control_env import DmControlEnv, parse_task_name


@dataclass
class DmControlRobotConfig(RobotConfig):
    """A dm_control suite task (``"domain-task"``) rendered at ``width`` × ``height``."""

    type: str = "dm_control"
    task: str = "cartpole-swingup"
    camera_id: int = 0
    width: int = 224
    height: int = 224
    render: bool = True
    action_repeat: int = 1
    time_limit: float | None = None

    def __post_init__(self) -> None:
        parse_task_name(self.task)  # ValueError listing the suite's tasks → ConfigError
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if self.action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {self.action_repeat}")

    def make(self) -> DmControlRobot:
        return DmControlRobot(self)


class DmControlRobot(GymRobot):
    """A :class:`GymRobot` over a :class:`DmControlEnv` that records its own config."""

    def __init__(self, config: DmControlRobotConfig) -> None:
        self.config = config
        env = DmControlEnv(
            config.task,
            seed=config.seed,
            action_repeat=config.action_repeat,
            time_limit=config.time_limit,
            render_mode="rgb_array" if config.render else None,
            camera_id=config.camera_id,
            width=config.width,
            height=config.height,
        )
        domain, task = parse_task_name(config.task)
        super().__init__(env, robot_type=f"dm_control_{domain}_{task}", seed=config.seed)

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)
