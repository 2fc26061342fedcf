"""Gymnasium adapters in both directions: Robot → ``gymnasium.Env`` and ``gymnasium.Env`` → Robot."""

from __future__ import annotations

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
    A robot cannot be reset, so ``reset`` returns the current observation.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self, robot: Robot, reward_fn: RewardFn | None = None, max_steps: int | None = None
    ) -> None:
        self.robot = robot
        self.reward_fn = reward_fn
        self.max_steps = max_steps
        self._space: ActionSpace = robot.action_space
        if isinstance(self._space, Box):
            self.action_space = gym.spaces.Box(
                np.asarray(self._space.low, np.float32), np.asarray(self._space.high, np.float32)
            )
        else:
            self.action_space = gym.spaces.Discrete(len(self._space))
        self._last = robot.get_observation()
        self.observation_space = gym.spaces.Dict({k: _space_of(v) for k, v in self._last.items()})
        self.render_mode = "rgb_array"
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict]:
        super().reset(seed=seed)
        self._steps = 0
        self._last = self.robot.get_observation()
        return _as_arrays(self._last), {}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict]:
        robot_action = (
            self._space.clip({self._space.key: np.asarray(action, np.float32)})
            if isinstance(self._space, Box)
            else self._space[int(action)]
        )
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
        return _as_arrays(self._last), reward, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        return self._last.get("image")

    def close(self) -> None:
        self.robot.cleanup()


def _as_arrays(observation: Observation) -> dict[str, Any]:
    return {k: np.asarray(v) for k, v in observation.items()}


def _space_of(value: Any) -> gym.spaces.Space:
    array = np.asarray(value)
    if array.dtype == np.uint8:
        return gym.spaces.Box(0, 255, array.shape, np.uint8)
    if array.dtype == np.bool_:
        return gym.spaces.MultiBinary(array.shape or 1)
    dtype = np.float32 if array.dtype.kind == "f" else np.int64
    return gym.spaces.Box(-np.inf, np.inf, array.shape, dtype)


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
