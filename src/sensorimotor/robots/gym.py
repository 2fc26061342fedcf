"""Gymnasium adapters in both directions: Robot → ``gymnasium.Env`` and ``gymnasium.Env`` → Robot."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from sensorimotor.robots.interface import Action, ActionSpace, Box, Observation, Robot

RewardFn = Callable[[Observation, Action, Observation], float]


class RobotEnv(gym.Env):
    """A robot as a Gymnasium environment.

    Observations are the robot's observation dicts (``Dict`` space of ``Box`` es inferred from the
    first observation). Discrete robots get ``Discrete(n)`` actions (the index into the action list),
    continuous ones a ``Box``. The reward comes from ``reward_fn(obs, action, next_obs)`` (default 0,
    or the robot's own ``reward`` entry when it reports one); ``max_steps`` truncates episodes.

    ``normalize_actions`` presents a bounded ``Box`` as ``[-1, 1]`` (what Gymnasium recommends and
    its checker asks for) and scales actions to the robot's bounds.

    Each entry comes back with the dtype and shape its space declares (floats as float32, scalar
    booleans as ``Discrete(2)``). ``reset(seed=...)`` resets a robot that has a ``reset`` method
    (passing the seed when it takes one), so the same seed gives the same first observation; a
    robot without one (a real robot) continues from where it is.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        robot: Robot,
        reward_fn: RewardFn | None = None,
        max_steps: int | None = None,
        normalize_actions: bool = False,
    ) -> None:
        self.robot = robot
        self.reward_fn = reward_fn
        self.max_steps = max_steps
        self._space: ActionSpace = robot.action_space
        self._scale: tuple[np.ndarray, np.ndarray] | None = None
        if isinstance(self._space, Box):
            low = np.asarray(self._space.low, np.float32)
            high = np.asarray(self._space.high, np.float32)
            if normalize_actions:
                if not (np.isfinite(low).all() and np.isfinite(high).all()):
                    raise ValueError("normalize_actions needs a Box with finite bounds")
                self._scale = ((high + low) / 2, (high - low) / 2)
                low, high = -np.ones_like(low), np.ones_like(high)
            self.action_space = gym.spaces.Box(low, high)
        else:
            self.action_space = gym.spaces.Discrete(len(self._space))
        self._last = robot.get_observation()
        self.observation_space = gym.spaces.Dict(
            {k: _space_of(k, v) for k, v in self._last.items()}
        )
        self.render_mode = "rgb_array"
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        _reset_robot(self.robot, seed)
        self._steps = 0
        self._last = self.robot.get_observation()
        return self._as_space(self._last), {}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict]:
        if isinstance(self._space, Box):
            value = np.asarray(action, np.float32)
            if self._scale is not None:
                value = self._scale[0] + self._scale[1] * np.clip(value, -1.0, 1.0)
            robot_action = self._space.clip({self._space.key: value})
        else:
            robot_action = self._space[int(action)]
        previous = self._last
        self.robot.execute_action(robot_action)
        self._last = self.robot.get_observation()
        self._steps += 1
        if self.reward_fn is not None:
            reward = float(self.reward_fn(previous, robot_action, self._last))
        else:
            reward = float(self._last.get("reward", 0.0))
        terminated = bool(self._last.get("terminated", False))
        truncated = bool(self._last.get("truncated", False)) or (
            self.max_steps is not None and self._steps >= self.max_steps
        )
        return self._as_space(self._last), reward, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        return self._last.get("image")

    def close(self) -> None:
        self.robot.cleanup()

    def _as_space(self, observation: Observation) -> dict[str, Any]:
        """The observation converted to the dtypes and shapes of ``observation_space``."""
        spaces = self.observation_space.spaces
        if set(observation) != set(spaces):
            raise ValueError(
                f"robot observation keys changed: expected {sorted(spaces)}, got {sorted(observation)}"
            )
        return {k: _convert(k, v, spaces[k]) for k, v in observation.items()}


def _reset_robot(robot: Robot, seed: int | None) -> None:
    """Call ``robot.reset`` when it has one, with ``seed`` when it takes one."""
    reset = getattr(robot, "reset", None)
    if not callable(reset):
        return
    if "seed" in inspect.signature(reset).parameters:
        reset(seed=seed)
    else:
        reset()


def _space_of(key: str, value: Any) -> gym.spaces.Space:
    array = np.asarray(value)
    if array.dtype == np.uint8:
        return gym.spaces.Box(0, 255, array.shape, np.uint8)
    if array.dtype == np.bool_:
        return gym.spaces.Discrete(2) if array.ndim == 0 else gym.spaces.MultiBinary(array.shape)
    if array.dtype.kind == "f":  # finite bounds: Gymnasium's checker warns about infinite ones
        big = np.finfo(np.float32).max
        return gym.spaces.Box(-big, big, array.shape, np.float32)
    if array.dtype.kind in "iu":
        info = np.iinfo(np.int64)
        return gym.spaces.Box(info.min, info.max, array.shape, np.int64)
    raise TypeError(
        f"observation entry {key!r} has dtype {array.dtype}; RobotEnv supports numbers, booleans "
        "and uint8 images"
    )


def _convert(key: str, value: Any, space: gym.spaces.Space) -> Any:
    if isinstance(space, gym.spaces.Discrete):
        return np.int64(bool(value))
    array = np.asarray(value, dtype=space.dtype)
    if array.shape != space.shape:
        raise ValueError(
            f"observation entry {key!r} changed shape: expected {space.shape}, got {array.shape}"
        )
    return array


class GymRobot(Robot):
    """A Gymnasium environment as a robot.

    Observation: ``obs`` (the env's observation), ``reward``, ``terminated``, ``truncated`` and, when the
    env renders ``rgb_array`` frames, ``image``. Discrete envs get one action dict per action
    (``{"action": i}``); Box envs a :class:`Box`. After an episode ends, the next action resets the
    env instead of stepping it (Gymnasium's next-step autoreset); ``episode`` counts episodes.
    """

    def __init__(
        self,
        env: gym.Env,
        robot_type: str = "gym",
        seed: int | None = None,
        render: bool | None = None,
    ) -> None:
        self.env = env
        self.robot_type = robot_type
        self.render = env.render_mode == "rgb_array" if render is None else render
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            self._space: ActionSpace = [
                {"action": int(space.start) + i} for i in range(int(space.n))
            ]
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            self._space = Box(
                tuple(float(v) for v in space.low), tuple(float(v) for v in space.high)
            )
        else:
            raise TypeError(f"GymRobot supports Discrete and 1-D Box action spaces, got {space}")
        self.episode = 0
        self._seed = seed
        self._obs, _ = env.reset(seed=seed)
        self._reward, self._terminated, self._truncated = 0.0, False, False

    @property
    def action_space(self) -> ActionSpace:
        return self._space

    def get_observation(self) -> Observation:
        observation: Observation = {
            "obs": self._obs,
            "reward": self._reward,
            "terminated": self._terminated,
            "truncated": self._truncated,
            "episode": self.episode,
        }
        if self.render:
            observation["image"] = np.asarray(self.env.render())
        return observation

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode (``seed`` re-seeds the env); the episode counter starts again."""
        self.episode = 0
        self._obs, _ = self.env.reset(seed=seed)
        self._reward, self._terminated, self._truncated = 0.0, False, False

    def execute_action(self, action: Action) -> None:
        if self._terminated or self._truncated:
            self.episode += 1
            self._obs, _ = self.env.reset()
            self._reward, self._terminated, self._truncated = 0.0, False, False
            return
        value = (
            np.asarray(action[self._space.key], np.float32)
            if isinstance(self._space, Box)
            else action["action"]
        )
        self._obs, reward, self._terminated, self._truncated, _ = self.env.step(value)
        self._reward = float(reward)

    def config_dict(self) -> dict[str, Any]:
        spec = getattr(self.env, "spec", None)
        return {"env_id": spec.id if spec else type(self.env).__name__, "seed": self._seed}

    def cleanup(self) -> None:
        self.env.close()
