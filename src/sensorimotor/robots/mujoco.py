"""``MujocoRobot``: any MuJoCo scene behind the :class:`~sensorimotor.robots.interface.Robot` interface.

Observation (``get_observation``):

- ``image``: ``uint8 (H, W, 3)`` from ``camera`` (default ``overhead``, 224×224);
- ``image_<name>``: one per ``extra_cameras`` entry (``/`` in names becomes ``_``);
- ``joint_pos``, ``joint_vel``: ``float32 (J,)`` of the scene's hinge and slide joints
  (``robot.joint_names`` says which);
- ``ctrl``: ``float32 (A,)`` current targets of the controlled actuators;
- ``time``: simulated seconds since the start.

Actions, each simulated for ``control_period`` seconds (``round(control_period / timestep)``
physics steps):

- ``action_mode="discrete"`` (default): joint-target deltas, ``{"actuator": name, "delta": ±d}``
  adds ``d`` to that actuator's target (clipped to its ``ctrlrange``), and ``{"actuator":
  "noop", "delta": 0.0}`` holds. With the default two actuators that is 5 actions:
  ``[noop, a0+, a0-, a1+, a1-]``;
- ``action_mode="continuous"``: a :class:`Box` ``{"ctrl": float32 (A,)}`` of absolute targets
  within the controlled actuators' ``ctrlrange``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import mujoco
import numpy as np

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.errors import ConfigError
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.interface import Action, ActionSpace, Box, Observation, Robot
from sensorimotor.sim.scenes import actuator_names, camera_names, load_model, reset_data, scene_name

NOOP = "noop"


@dataclass
class MujocoRobotConfig(RobotConfig):
    """A MuJoCo scene as a robot: cameras, image size, control period and action set.

    ``actuators`` None means the first two actuators (discrete) or all of them (continuous).
    """

    type: str = "mujoco"
    scene: str = "test_scene"
    camera: str = "overhead"
    extra_cameras: list[str] = field(default_factory=list)
    width: int = 224
    height: int = 224
    render: bool = True
    shadows: bool = False  # software OpenGL renders several times faster without
    reflections: bool = False
    control_period: float = 0.05
    action_mode: Literal["discrete", "continuous"] = "discrete"
    actuators: list[str] | None = None
    delta: float = 0.05
    joint_state: bool = True

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if self.control_period <= 0:
            raise ValueError(f"control_period must be positive seconds, got {self.control_period}")
        if self.delta <= 0:
            raise ValueError(f"delta must be positive, got {self.delta}")

    def make(self) -> MujocoRobot:
        return MujocoRobot(self)


def _image_key(camera: str) -> str:
    return "image_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in camera)


class MujocoRobot(Robot):
    """A MuJoCo scene driven through joint-target actions; see the module docstring."""

    def __init__(self, config: MujocoRobotConfig | None = None, **overrides: Any) -> None:
        config = config or MujocoRobotConfig()
        if overrides:
            config = MujocoRobotConfig(**{**config_to_dict(config), **overrides})
        self.config = config
        self.robot_type = f"mujoco_{scene_name(config.scene)}"
        self.model = load_model(config.scene)
        self.data = mujoco.MjData(self.model)
        model = self.model

        cameras = camera_names(model)
        if config.render:
            for camera in [config.camera, *config.extra_cameras]:
                if camera not in cameras:
                    raise ConfigError(
                        f"robot.camera: scene {config.scene!r} has no camera {camera!r}; "
                        f"its cameras: {cameras}"
                    )
        names = actuator_names(model)
        if model.nu == 0:
            raise ConfigError(f"scene {config.scene!r} has no actuators to control")
        if NOOP in names:
            raise ConfigError(f"scene {config.scene!r} has an actuator named {NOOP!r} (reserved)")
        if config.actuators is None:
            chosen = names[:2] if config.action_mode == "discrete" else names
        else:
            unknown = [a for a in config.actuators if a not in names]
            if unknown or not config.actuators:
                raise ConfigError(
                    f"robot.actuators: unknown actuator(s) {unknown} in scene {config.scene!r}; "
                    f"its actuators: {names}"
                )
            chosen = list(config.actuators)
        self.actuator_names = chosen
        self._actuator_ids = np.array([names.index(a) for a in chosen], np.int64)
        limited = model.actuator_ctrllimited[self._actuator_ids].astype(bool)
        ranges = model.actuator_ctrlrange[self._actuator_ids]
        self._low = np.where(limited, ranges[:, 0], -np.inf)
        self._high = np.where(limited, ranges[:, 1], np.inf)
        if config.action_mode == "continuous" and not limited.all():
            unlimited = [a for a, ok in zip(chosen, limited, strict=True) if not ok]
            raise ConfigError(
                f"robot.action_mode=continuous needs ctrlrange limits on every controlled "
                f"actuator; {unlimited} have none"
            )

        joints = [
            j
            for j in range(model.njnt)
            if int(model.jnt_type[j])
            in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
        ]
        self.joint_names = [model.joint(j).name or f"#{j}" for j in joints]
        self._qpos_idx = model.jnt_qposadr[joints].astype(np.int64)
        self._qvel_idx = model.jnt_dofadr[joints].astype(np.int64)

        self.n_substeps = max(1, round(config.control_period / model.opt.timestep))
        self.control_period = self.n_substeps * model.opt.timestep
        if config.action_mode == "discrete":
            self._actions: list[Action] = [{"actuator": NOOP, "delta": 0.0}]
            for name in chosen:
                self._actions.append({"actuator": name, "delta": float(config.delta)})
                self._actions.append({"actuator": name, "delta": -float(config.delta)})
            self._space: ActionSpace = self._actions
        else:
            self._space = Box(
                tuple(float(v) for v in self._low),
                tuple(float(v) for v in self._high),
                key="ctrl",
                names=tuple(chosen),
            )
        self._index = {name: i for i, name in enumerate(chosen)}
        self._renderer: Any = None
        self.reset()

    @property
    def action_space(self) -> ActionSpace:
        if isinstance(self._space, Box):
            return self._space
        return [dict(a) for a in self._space]

    def reset(self) -> None:
        """Back to the scene's initial state (keyframe 0 if any) with targets = initial ``ctrl``."""
        reset_data(self.model, self.data)
        self.steps = 0

    def execute_action(self, action: Action) -> None:
        """Apply one action (see the module docstring) and simulate one control period."""
        if self.config.action_mode == "discrete":
            name = action.get("actuator") if isinstance(action, dict) else None
            delta = action.get("delta") if isinstance(action, dict) else None
            if name != NOOP:
                if name not in self._index or not isinstance(delta, int | float):
                    raise ValueError(
                        f"{self.robot_type}: action must be one of {self._actions}, got {action!r}"
                    )
                i = self._actuator_ids[self._index[name]]
                k = self._index[name]
                self.data.ctrl[i] = np.clip(self.data.ctrl[i] + delta, self._low[k], self._high[k])
        else:
            if not isinstance(action, dict) or "ctrl" not in action:
                raise ValueError(
                    f"{self.robot_type}: continuous action must be {{'ctrl': array of "
                    f"{len(self._actuator_ids)} targets}}, got {action!r}"
                )
            target = np.asarray(action["ctrl"], np.float64).reshape(-1)
            if target.shape != (len(self._actuator_ids),) or not np.all(np.isfinite(target)):
                raise ValueError(
                    f"{self.robot_type}: ctrl must be {len(self._actuator_ids)} finite numbers "
                    f"for {self.actuator_names}, got {action['ctrl']!r}"
                )
            self.data.ctrl[self._actuator_ids] = np.clip(target, self._low, self._high)
        mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
        self.steps += 1

    def _render(self, camera: str) -> np.ndarray:
        if self._renderer is None:
            from sensorimotor.sim.render import Renderer

            self._renderer = Renderer(self.model, self.config.width, self.config.height)
        return self._renderer.render(
            self.data, camera, shadows=self.config.shadows, reflections=self.config.reflections
        )

    def get_observation(self) -> Observation:
        """Camera images, joint state, actuator targets and time (see the module docstring)."""
        observation: Observation = {}
        if self.config.render:
            observation["image"] = self._render(self.config.camera)
            for camera in self.config.extra_cameras:
                observation[_image_key(camera)] = self._render(camera)
        if self.config.joint_state:
            observation["joint_pos"] = self.data.qpos[self._qpos_idx].astype(np.float32)
            observation["joint_vel"] = self.data.qvel[self._qvel_idx].astype(np.float32)
            observation["ctrl"] = self.data.ctrl[self._actuator_ids].astype(np.float32)
        observation["time"] = float(self.data.time)
        return observation

    def config_dict(self) -> dict[str, Any]:
        return {
            **config_to_dict(self.config),
            "actuator_names": list(self.actuator_names),
            "joint_names": list(self.joint_names),
            "n_substeps": self.n_substeps,
        }

    def cleanup(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
