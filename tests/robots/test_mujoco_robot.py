"""Tests of MujocoRobot (the Robot interface over MuJoCo scenes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.mujoco

pytest.importorskip("mujoco")

from sensorimotor.core.config import load_config  # noqa: E402
from sensorimotor.core.errors import ConfigError  # noqa: E402
from sensorimotor.robots.interface import Box, action_space_to_json  # noqa: E402
from sensorimotor.robots.mujoco import MujocoRobot, MujocoRobotConfig  # noqa: E402
from sensorimotor.robots.runner import RecordJobConfig  # noqa: E402

SMALL = dict(width=64, height=48)


@pytest.mark.usefixtures("gl")
def test_observation_fits_the_world_model_contract() -> None:
    with MujocoRobot(**SMALL) as robot:
        obs = robot.get_observation()
        assert obs["image"].dtype == np.uint8 and obs["image"].shape == (48, 64, 3)
        assert obs["joint_pos"].dtype == np.float32 and obs["joint_pos"].shape == (2,)
        assert robot.joint_names == ["pusher_x", "pusher_y"]
        assert obs["ctrl"].shape == (2,) and obs["time"] == 0.0
    assert MujocoRobot().get_observation()["image"].shape == (224, 224, 3)  # the default size


@pytest.mark.usefixtures("gl")
def test_default_discrete_actions_move_the_pusher() -> None:
    robot = MujocoRobot(**SMALL)
    space = robot.action_space
    assert len(space) == 5 and space[0] == {"actuator": "noop", "delta": 0.0}
    assert space[1] == {"actuator": "pusher_x", "delta": 0.05}
    assert space[2] == {"actuator": "pusher_x", "delta": -0.05}
    assert action_space_to_json(space)["kind"] == "discrete"
    first = robot.get_observation()
    for _ in range(4):
        robot.execute_action(space[1])
    obs = robot.get_observation()
    assert obs["ctrl"][0] == pytest.approx(0.2)
    assert obs["joint_pos"][0] == pytest.approx(0.2, abs=0.02)  # reached the target
    assert obs["time"] == pytest.approx(4 * robot.control_period)
    assert np.abs(first["image"].astype(int) - obs["image"].astype(int)).max() > 50
    robot.execute_action(space[0])
    assert robot.get_observation()["ctrl"][0] == pytest.approx(0.2)
    for _ in range(20):  # targets are clipped to the ctrlrange
        robot.execute_action(space[1])
    assert robot.get_observation()["ctrl"][0] == pytest.approx(0.4)
    robot.cleanup()
    robot.cleanup()


@pytest.mark.usefixtures("gl")
def test_same_actions_same_frames() -> None:
    frames = []
    for _ in range(2):
        with MujocoRobot(**SMALL) as robot:
            for i in range(6):
                robot.execute_action(robot.action_space[1 + i % 4])
            frames.append(robot.get_observation()["image"])
    np.testing.assert_array_equal(frames[0], frames[1])


def test_continuous_actions_and_physics_only() -> None:
    robot = MujocoRobot(action_mode="continuous", render=False)
    space = robot.action_space
    assert (
        isinstance(space, Box) and space.key == "ctrl" and space.names == ("pusher_x", "pusher_y")
    )
    assert space.low == (-0.4, -0.25) and space.high == (0.4, 0.25)
    robot.execute_action({"ctrl": np.array([1.0, -0.1], np.float32)})
    obs = robot.get_observation()
    assert "image" not in obs
    np.testing.assert_allclose(obs["ctrl"], [0.4, -0.1], rtol=1e-6)  # clipped into the box
    with pytest.raises(ValueError, match="2 finite numbers"):
        robot.execute_action({"ctrl": [0.1]})
    with pytest.raises(ValueError, match="continuous action"):
        robot.execute_action({"actuator": "pusher_x", "delta": 0.05})


def test_bad_discrete_action() -> None:
    robot = MujocoRobot(render=False)
    with pytest.raises(ValueError, match="must be one of"):
        robot.execute_action({"actuator": "elbow", "delta": 0.1})


@pytest.mark.usefixtures("gl")
def test_bimanual_with_wrist_camera_and_chosen_actuators() -> None:
    robot = MujocoRobot(
        scene="bimanual_bricks",
        extra_cameras=["left/wrist_cam"],
        actuators=["left/gripper"],
        delta=0.01,
        **SMALL,
    )
    assert len(robot.action_space) == 3
    obs = robot.get_observation()
    assert obs["image_left_wrist_cam"].shape == (48, 64, 3)
    assert len(obs["joint_pos"]) == 14
    for _ in range(3):
        robot.execute_action(robot.action_space[1])
    finger = robot.joint_names.index("left/finger_left")
    assert robot.get_observation()["joint_pos"][finger] > 0.02
    robot.cleanup()


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="no camera 'top'.*overhead"):
        MujocoRobot(camera="top")
    with pytest.raises(ConfigError, match="unknown actuator"):
        MujocoRobot(actuators=["elbow"], render=False)
    with pytest.raises(ValueError, match="control_period"):
        MujocoRobotConfig(control_period=0)


@pytest.mark.usefixtures("gl")
def test_config_composes_from_the_robot_group() -> None:
    config = load_config(
        "robots",
        "record",
        ["robot=mujoco", "robot.scene=test_scene", "robot.width=32"],
        RecordJobConfig,
    )
    assert isinstance(config.robot, MujocoRobotConfig) and config.robot.width == 32
    robot = config.robot.make()
    assert robot.robot_type == "mujoco_test_scene"
    assert robot.config_dict()["actuator_names"] == ["pusher_x", "pusher_y"]
    robot.cleanup()
    with pytest.raises(ConfigError, match="action_mode"):
        load_config("robots", "record", ["robot=mujoco", "robot.action_mode=fast"], RecordJobConfig)


@pytest.mark.smoke
@pytest.mark.usefixtures("gl")
def test_record_command_with_mujoco_robot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sensorimotor.cli import main
    from sensorimotor.robots.session import SessionReader, list_sessions

    root = tmp_path / "sessions"
    code = main(
        [
            "record",
            "robot=mujoco",
            "robot.scene=test_scene",
            "steps=20",
            f"sessions_root={root}",
            "progress=false",
        ]
    )
    assert code == 0
    (info,) = list_sessions(root)
    reader = SessionReader(info.path)
    assert len(reader) == 21 and info.robot_type == "mujoco_test_scene"
    assert reader.frame(0, "image").shape == (224, 224, 3)
