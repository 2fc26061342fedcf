"""Language-conditioned tasks in the ``bimanual_bricks`` scene: layouts, instructions, success.

Each episode picks a task, a target brick colour and random brick poses (:func:`sample_episode`);
:class:`BrickTaskEnv` resets the scene to that layout, steps joint-target actions at a fixed control
rate, and reports success with the task's own check — the same check the scripted experts
(:mod:`sensorimotor.sim.brick_experts`) are filtered by and the VLA evaluation scores with.

Tasks (the colour is drawn per episode; two other bricks are on the table as distractors):

- ``pick_left``: "pick up the red brick with the left arm" — the brick is on the left half;
- ``push_right``: "push the red brick to the right" — the left arm pushes it along +x;
- ``pick_any``: "pick up the red brick" — the brick is in the middle, either arm may take it
  (the experts pick each with probability 1/2: a two-mode task).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from sensorimotor.core.errors import ConfigError
from sensorimotor.sim.scenes import load_model, reset_data

SCENE = "bimanual_bricks"
COLORS = ("red", "blue", "yellow", "green", "white", "orange")
TASKS = ("pick_left", "push_right", "pick_any")
ARMS = ("left", "right")
ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_pitch", "wrist_roll")
#: Actuators in action order: per arm the five joints then the gripper (12 numbers).
ACTUATORS = tuple(f"{arm}/{j}" for arm in ARMS for j in (*ARM_JOINTS, "gripper"))
TABLE_Z = 0.75
BRICK_Z = 0.7601  # a brick's body origin resting on the table
LIFT_SUCCESS = 0.04  # metres above its resting height
PUSH_SUCCESS = 0.04  # metres along +x
INSTRUCTIONS = {
    "pick_left": "pick up the {color} brick with the left arm",
    "push_right": "push the {color} brick to the right",
    "pick_any": "pick up the {color} brick",
}
#: Where each task's target brick starts: (x range, y range).
REGIONS = {
    "pick_left": ((-0.20, -0.09), (-0.09, 0.09)),
    "push_right": ((-0.20, -0.12), (-0.08, 0.08)),
    "pick_any": ((-0.02, 0.02), (-0.08, 0.08)),
}
DISTRACTOR_REGION = ((-0.24, 0.24), (-0.2, 0.2))


@dataclass(frozen=True)
class BrickEpisode:
    """One episode's layout: the task, the target colour, every brick's ``(x, y, yaw)`` on the
    table (parked bricks sit at the back edge) and the instruction."""

    task: str
    color: str
    poses: dict[str, tuple[float, float, float]]
    instruction: str
    seed: int


def sample_episode(task: str, seed: int) -> BrickEpisode:
    """A random layout for ``task``: target brick in the task's region, two distractors at least
    10 cm away, the other bricks parked at the back of the table."""
    if task not in TASKS:
        raise ConfigError(f"unknown brick task {task!r}; expected one of {list(TASKS)}")
    rng = np.random.default_rng(seed)
    colors = list(rng.permutation(COLORS))
    target, distractors, parked = colors[0], colors[1:3], colors[3:]
    (x0, x1), (y0, y1) = REGIONS[task]
    poses = {target: (rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(-0.6, 0.6))}
    (dx0, dx1), (dy0, dy1) = DISTRACTOR_REGION
    for color in distractors:
        while True:
            xy = np.array([rng.uniform(dx0, dx1), rng.uniform(dy0, dy1)])
            if all(np.hypot(*(xy - p[:2])) > 0.1 for p in poses.values()) and not _in_path(xy):
                break
        poses[color] = (float(xy[0]), float(xy[1]), float(rng.uniform(-np.pi, np.pi)))
    for i, color in enumerate(parked):
        poses[color] = (-0.12 + 0.12 * i, 0.37, 0.0)
    poses = {c: tuple(float(v) for v in p) for c, p in poses.items()}
    return BrickEpisode(task, target, poses, INSTRUCTIONS[task].format(color=target), seed)


def _in_path(xy: np.ndarray) -> bool:
    """Whether a distractor at ``xy`` would sit in the arms' or the pushed brick's way."""
    return abs(xy[1]) < 0.12 and -0.3 < xy[0] < 0.12


class BrickTaskEnv:
    """The scene with one task's layout; ``step(action)`` holds 12 joint targets for one control
    period. Observations: ``state`` (12 joint positions: per arm five joints + the finger)."""

    def __init__(self, control_hz: float = 10.0) -> None:
        self.model = load_model(SCENE)
        self.data = mujoco.MjData(self.model)
        self.substeps = max(1, round(1.0 / (control_hz * self.model.opt.timestep)))
        self.actuators = np.array([self.model.actuator(n).id for n in ACTUATORS])
        joints = [f"{arm}/{j}" for arm in ARMS for j in (*ARM_JOINTS, "finger_left")]
        self.state_qpos = np.array([self.model.jnt_qposadr[self.model.joint(j).id] for j in joints])
        self.ctrl_low = self.model.actuator_ctrlrange[self.actuators, 0]
        self.ctrl_high = self.model.actuator_ctrlrange[self.actuators, 1]
        self.episode: BrickEpisode | None = None
        self._start: dict[str, np.ndarray] = {}

    def reset(self, episode: BrickEpisode) -> np.ndarray:
        """Arms at the ready pose with open grippers, bricks at ``episode.poses``; returns the state."""
        reset_data(self.model, self.data)
        for color, (x, y, yaw) in episode.poses.items():
            adr = self.model.jnt_qposadr[self.model.joint(f"brick_{color}").id]
            self.data.qpos[adr : adr + 7] = [x, y, BRICK_Z, np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        self.data.ctrl[self.actuators] = self.home_action()
        self.data.qpos[self.state_qpos[[5, 11]]] = 0.03
        mujoco.mj_forward(self.model, self.data)
        for _ in range(self.substeps):  # let the bricks settle
            mujoco.mj_step(self.model, self.data)
        self.episode = episode
        self._start = {c: self.brick_pos(c).copy() for c in COLORS}
        return self.state()

    @staticmethod
    def home_action() -> np.ndarray:
        """The ready pose with both grippers open (12 joint targets)."""
        return np.array([0, 0, 0, 0, 0, 0.03] * 2, dtype=np.float64)

    def state(self) -> np.ndarray:
        """The 12 arm joint positions (float32)."""
        return self.data.qpos[self.state_qpos].astype(np.float32)

    def step(self, action: np.ndarray) -> np.ndarray:
        """Hold joint targets ``action`` (12,) for one control period; returns the new state."""
        action = np.asarray(action, np.float64)
        if action.shape != (len(ACTUATORS),) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be {len(ACTUATORS)} finite joint targets, got {action}")
        self.data.ctrl[self.actuators] = np.clip(action, self.ctrl_low, self.ctrl_high)
        for _ in range(self.substeps):
            mujoco.mj_step(self.model, self.data)
        return self.state()

    def brick_pos(self, color: str) -> np.ndarray:
        """The position of a brick's body origin."""
        return self.data.xpos[self.model.body(f"brick_{color}").id]

    def success(self) -> bool:
        """The current task's success check on the current state."""
        if self.episode is None:
            raise RuntimeError("reset the environment with an episode first")
        return task_success(
            self.episode.task, self._start[self.episode.color], self.brick_pos(self.episode.color)
        )


def task_success(task: str, start: np.ndarray, now: np.ndarray) -> bool:
    """Whether the target brick moved from ``start`` to ``now`` as ``task`` asks: lifted by
    ``LIFT_SUCCESS`` (picks) or pushed ``PUSH_SUCCESS`` along +x while staying on the table."""
    if task in ("pick_left", "pick_any"):
        return bool(now[2] - start[2] > LIFT_SUCCESS)
    if task == "push_right":
        on_table = now[2] - start[2] < 0.01
        return bool(on_table and now[0] - start[0] > PUSH_SUCCESS and abs(now[1] - start[1]) < 0.05)
    raise ConfigError(f"unknown brick task {task!r}; expected one of {list(TASKS)}")
