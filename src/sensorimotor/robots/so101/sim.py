"""``robot=so101_sim``: the SO-101 arm in MuJoCo with a base and a wrist camera.

Observation (``get_observation``):

- ``image``: ``uint8 (2H, W, 3)``, the base camera above the wrist camera (448×224 by default),
  stacked as on the real recording setup; ``config_dict()["camera_layout"]`` says how to split it;
- ``joint_pos``: ``float32 (6,)`` joint positions in degrees, in :data:`JOINTS` order;
- ``time``: simulated seconds since the start.

Actions: three on one configurable joint, each lasting ``action_duration`` simulated seconds:
``0`` stay, ``1`` target += ``position_delta``, ``2`` target −= ``position_delta`` (degrees,
clipped to the joint's range). ``set_targets`` / ``advance`` / ``positions`` drive the arm at a
finer grain (LeRobot-style recording at ``fps`` frames per second, servo calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.errors import ConfigError
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.interface import Action, ActionSpace, Observation, Robot
from sensorimotor.robots.so101.constants import CAMERAS, JOINTS, camera_layout, discrete_actions
from sensorimotor.sim.scenes import load_model, reset_data

_PREFIX = "so101/"
#: Our camera names → the scene's MuJoCo cameras.
_SCENE_CAMERAS = {"base_0_rgb": "base", "left_wrist_0_rgb": "so101/wrist"}


@dataclass
class SO101SimConfig(RobotConfig):
    """The simulated SO-101: controlled joint, step size, action duration, camera size."""

    type: str = "so101_sim"
    scene: str = "so101_desk"
    joint: str = "shoulder_pan"
    position_delta: float = 10.0  # degrees per MOVE action
    action_duration: float = 0.5  # simulated seconds per action
    width: int = 224  # per camera
    height: int = 224
    render: bool = True

    def __post_init__(self) -> None:
        if self.joint not in JOINTS:
            raise ConfigError(f"robot.joint must be one of {list(JOINTS)}, got {self.joint!r}")
        if self.position_delta <= 0:
            raise ConfigError(f"robot.position_delta must be positive, got {self.position_delta}")
        if self.action_duration <= 0:
            raise ConfigError(f"robot.action_duration must be positive, got {self.action_duration}")
        if self.width < 1 or self.height < 1:
            raise ConfigError(f"robot camera size must be positive, got {self.width}x{self.height}")

    def make(self) -> SO101Sim:
        return SO101Sim(self)


class SO101Sim(Robot):
    """The simulated SO-101 (see the module docstring)."""

    robot_type = "so101_sim"

    def __init__(self, config: SO101SimConfig | None = None, **overrides: Any) -> None:
        config = config or SO101SimConfig()
        if overrides:
            config = SO101SimConfig(**{**config_to_dict(config), **overrides})
        self.config = config
        self.model = load_model(config.scene)
        self.data = mujoco.MjData(self.model)
        try:
            self._act = np.array([self.model.actuator(_PREFIX + j).id for j in JOINTS])
            joints = [self.model.joint(_PREFIX + j) for j in JOINTS]
        except KeyError as e:
            raise ConfigError(
                f"robot.scene {config.scene!r} lacks the SO-101 joint/actuator {e}; "
                f"expected {[_PREFIX + j for j in JOINTS]}"
            ) from None
        self._qpos = np.array([int(j.qposadr[0]) for j in joints])
        ranges = self.model.actuator_ctrlrange[self._act]
        self.low_deg, self.high_deg = np.degrees(ranges[:, 0]), np.degrees(ranges[:, 1])
        self.joint_index = JOINTS.index(config.joint)
        self._actions = discrete_actions(config.joint, config.position_delta)
        self._renderer: Any = None
        self.reset()

    @property
    def action_space(self) -> ActionSpace:
        return [dict(a) for a in self._actions]

    def reset(self) -> None:
        """Back to the ready pose with every target at the current position."""
        reset_data(self.model, self.data)

    def positions(self) -> np.ndarray:
        """Joint positions in degrees, :data:`JOINTS` order."""
        return np.degrees(self.data.qpos[self._qpos]).astype(np.float32)

    def targets(self) -> np.ndarray:
        """Current joint targets in degrees."""
        return np.degrees(self.data.ctrl[self._act])

    def set_targets(self, degrees: np.ndarray) -> None:
        """Command absolute joint targets (degrees, clipped to the joint ranges)."""
        target = np.asarray(degrees, np.float64).reshape(-1)
        if target.shape != (len(JOINTS),) or not np.all(np.isfinite(target)):
            raise ValueError(
                f"so101_sim: targets must be {len(JOINTS)} finite degrees, got {degrees!r}"
            )
        self.data.ctrl[self._act] = np.radians(np.clip(target, self.low_deg, self.high_deg))

    def advance(self, seconds: float) -> None:
        """Simulate ``seconds`` (rounded to whole physics steps)."""
        steps = max(1, round(seconds / self.model.opt.timestep))
        mujoco.mj_step(self.model, self.data, nstep=steps)

    def execute_action(self, action: Action) -> None:
        """Apply one discrete action (a dict of :attr:`action_space`) for ``action_duration``."""
        if not isinstance(action, dict) or action.get("joint") != self.config.joint:
            raise ValueError(f"so101_sim: action must be one of {self._actions}, got {action!r}")
        delta = action.get("delta")
        if not isinstance(delta, int | float) or not np.isfinite(delta):
            raise ValueError(f"so101_sim: action delta must be a number, got {action!r}")
        targets = self.targets()
        targets[self.joint_index] += delta
        self.set_targets(targets)
        self.advance(self.config.action_duration)

    def camera_images(self) -> dict[str, np.ndarray]:
        """Each camera's ``uint8 (H, W, 3)`` frame, by LeRobot camera name."""
        if self._renderer is None:
            from sensorimotor.sim.render import Renderer

            self._renderer = Renderer(self.model, self.config.width, self.config.height)
        return {
            name: self._renderer.render(
                self.data, _SCENE_CAMERAS[name], shadows=False, reflections=False
            )
            for name in CAMERAS
        }

    def get_observation(self) -> Observation:
        """Stacked camera image, joint positions (degrees) and time (see the module docstring)."""
        observation: Observation = {}
        if self.config.render:
            observation["image"] = np.concatenate(list(self.camera_images().values()), axis=0)
        observation["joint_pos"] = self.positions()
        observation["time"] = float(self.data.time)
        return observation

    def config_dict(self) -> dict[str, Any]:
        return {
            **config_to_dict(self.config),
            "joint_names": list(JOINTS),
            "units": "degrees",
            "camera_layout": camera_layout(CAMERAS, self.config.height, self.config.width),
        }

    def cleanup(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
