"""Gymnasium's own ``check_env`` passes, without a warning, for RobotEnv over every registered robot
(and a wrapped Gymnasium env), and a seeded reset reproduces the first observation."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sensorimotor.robots.gym import GymRobot, RobotEnv
from sensorimotor.robots.registry import ROBOTS

SMALL = {
    "toroidal_dot": {"width": 32, "height": 32, "dot_radius": 2, "move_pixels": 5},
    "mujoco": {"scene": "test_scene", "width": 32, "height": 32},
    "dm_control": {"task": "cartpole-swingup", "width": 32, "height": 32},
    "so101_sim": {"width": 16, "height": 16, "action_duration": 0.05},
    # Against a real `jetbot serve --backend sim` process (the `jetbot_server` fixture).
    "jetbot": {"width": 16, "height": 16, "encoding": "png", "duration": 0.05},
    # Over a session recorded by the `session_recorder` fixture; looping, so it never runs out.
    "replay": {"loop": True},
}
NEEDS_MUJOCO = {"mujoco", "dm_control", "so101_sim", "jetbot"}
CONTINUOUS = {"mujoco": {"action_mode": "continuous"}}


def make_robot(name, request=None):
    if name == "mujoco-continuous":
        pytest.importorskip("mujoco")
        return ROBOTS.get("mujoco")(**SMALL["mujoco"], **CONTINUOUS["mujoco"]).make()
    if name == "gym:Pendulum-v1":
        return GymRobot(gym.make("Pendulum-v1", max_episode_steps=20), robot_type="pendulum")
    if name in NEEDS_MUJOCO:
        pytest.importorskip("mujoco")
    if name == "dm_control":
        pytest.importorskip("dm_control")
    config = dict(SMALL[name])
    if name == "jetbot":
        config["port"] = request.getfixturevalue("jetbot_server").port
    if name == "replay":
        recorder = request.getfixturevalue("session_recorder")
        config["session"] = str(recorder(steps=12, width=16, height=16, dot_radius=2))
    return ROBOTS.get(name)(**config).make()


def test_every_registered_robot_is_covered():
    assert set(ROBOTS.names()) <= set(SMALL)


def _equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", [*SMALL, "mujoco-continuous", "gym:Pendulum-v1"])
def test_check_env_passes_without_warnings(name, request):
    # Bounded Box actions as [-1, 1]: Gymnasium's checker warns about any other range.
    env = RobotEnv(make_robot(name, request), max_steps=10, normalize_actions=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env, skip_render_check=True)
        first, _ = env.reset(seed=3)
        assert env.observation_space.contains(first)
        for _ in range(4):
            env.step(env.action_space.sample())
        again, _ = env.reset(seed=3)
        assert _equal(first, again), name
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    finally:
        env.close()


def test_normalized_actions_reach_the_robot_bounds():
    robot = make_robot("gym:Pendulum-v1")
    env = RobotEnv(robot, normalize_actions=True)
    env.reset(seed=0)
    env.step(np.array([1.0], np.float32))
    assert env.action_space.low.tolist() == [-1.0] and robot.env.unwrapped.last_u == 2.0
    env.close()
