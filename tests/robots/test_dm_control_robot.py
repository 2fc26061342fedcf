"""Tests of dm_control suite tasks as robots (GymRobot over DmControlEnv)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.mujoco

pytest.importorskip("dm_control")

from sensorimotor.core.config import load_config  # noqa: E402
from sensorimotor.core.errors import ConfigError  # noqa: E402
from sensorimotor.robots.dm_control import DmControlRobotConfig  # noqa: E402
from sensorimotor.robots.interface import Box  # noqa: E402
from sensorimotor.robots.runner import RecordJobConfig  # noqa: E402


@pytest.mark.usefixtures("gl")
def test_dm_control_robot_from_config() -> None:
    config = load_config(
        "robots",
        "record",
        [
            "robot=dm_control",
            "robot.task=reacher-easy",
            "robot.width=64",
            "robot.height=48",
            "robot.seed=3",
        ],
        RecordJobConfig,
    )
    assert isinstance(config.robot, DmControlRobotConfig)
    with config.robot.make() as robot:
        assert robot.robot_type == "dm_control_reacher_easy"
        space = robot.action_space
        assert isinstance(space, Box) and space.shape == (2,)
        obs = robot.get_observation()
        assert obs["image"].dtype == np.uint8 and obs["image"].shape == (48, 64, 3)
        assert obs["obs"].dtype == np.float32
        robot.execute_action(space.sample(np.random.default_rng(0)))
        after = robot.get_observation()
        assert isinstance(after["reward"], float) and not after["truncated"]
        assert robot.config_dict()["task"] == "reacher-easy"


def test_episode_end_resets_on_the_next_action() -> None:
    robot = DmControlRobotConfig(
        task="cartpole-swingup", time_limit=0.03, render=False, seed=0
    ).make()
    zero = {"action": np.zeros(1, np.float32)}
    for _ in range(3):
        robot.execute_action(zero)
    assert robot.get_observation()["truncated"] is True
    robot.execute_action(zero)
    assert robot.episode == 1 and not robot.get_observation()["truncated"]
    robot.cleanup()


def test_unknown_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cartpole-swingup"):
        load_config(
            "robots", "record", ["robot=dm_control", "robot.task=cartpole-fly"], RecordJobConfig
        )
