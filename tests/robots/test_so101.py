"""The simulated SO-101 (robot=so101_sim), its servo calibration, and the recording wrapper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorimotor.core.errors import ConfigError, UserError
from sensorimotor.robots.so101.calibration import SettleSettings, calibrate, measure_settle_time
from sensorimotor.robots.so101.record import (
    RecordPlan,
    episode_time,
    lerobot_record_command,
    verification_preview,
)

pytestmark = pytest.mark.mujoco


@pytest.fixture
def robot():  # noqa: ANN201
    from sensorimotor.robots.so101.sim import SO101Sim

    with SO101Sim(width=48, height=40, joint="elbow_flex", position_delta=10.0) as arm:
        yield arm


def test_observation_stacks_base_over_wrist_camera(robot) -> None:  # noqa: ANN001
    observation = robot.get_observation()
    assert observation["image"].shape == (80, 48, 3) and observation["image"].dtype == np.uint8
    images = robot.camera_images()
    np.testing.assert_array_equal(observation["image"][:40], images["base_0_rgb"])
    np.testing.assert_array_equal(observation["image"][40:], images["left_wrist_0_rgb"])
    assert observation["joint_pos"].shape == (6,)
    layout = robot.config_dict()["camera_layout"]
    assert layout == {
        "stack": "vertical",
        "cameras": ["base_0_rgb", "left_wrist_0_rgb"],
        "camera_size": [40, 48],
    }


def test_three_actions_move_the_chosen_joint(robot) -> None:  # noqa: ANN001
    space = robot.action_space
    assert [a["delta"] for a in space] == [0.0, 10.0, -10.0] and {a["joint"] for a in space} == {
        "elbow_flex"
    }
    j = robot.joint_index
    start = robot.positions().copy()
    robot.execute_action(space[1])
    moved = robot.positions()
    assert moved[j] - start[j] == pytest.approx(10.0, abs=0.5)
    others = np.delete(np.arange(6), j)
    np.testing.assert_allclose(moved[others], start[others], atol=0.5)
    robot.execute_action(space[0])
    assert robot.positions()[j] == pytest.approx(moved[j], abs=0.5)
    robot.execute_action(space[2])
    robot.execute_action(space[2])
    assert robot.positions()[j] - start[j] == pytest.approx(-10.0, abs=0.5)
    assert robot.data.time == pytest.approx(4 * 0.5)


def test_targets_stay_within_the_real_joint_limits(robot) -> None:  # noqa: ANN001
    j = robot.joint_index
    for _ in range(25):  # 250 degrees past a 97 degree limit
        robot.execute_action(robot.action_space[1])
    assert robot.targets()[j] == pytest.approx(robot.high_deg[j])
    assert robot.high_deg[j] == pytest.approx(np.degrees(1.69), abs=0.01)  # elbow_flex, real arm


def test_bad_actions_and_config_are_refused(robot) -> None:  # noqa: ANN001
    from sensorimotor.robots.so101.sim import SO101SimConfig

    with pytest.raises(ValueError, match="action must be one of"):
        robot.execute_action({"joint": "gripper", "delta": 10.0})
    with pytest.raises(ValueError, match="finite"):
        robot.set_targets(np.full(6, np.nan))
    with pytest.raises(ConfigError, match="robot.joint"):
        SO101SimConfig(joint="knee")
    with pytest.raises(ConfigError, match="action_duration"):
        SO101SimConfig(action_duration=0)


def test_registered_as_robot_so101_sim() -> None:
    from sensorimotor.core.config import load_config
    from sensorimotor.robots.runner import RecordJobConfig

    config = load_config(
        "robots", "record", ["robot=so101_sim", "robot.joint=gripper"], RecordJobConfig
    )
    assert type(config.robot).__name__ == "SO101SimConfig" and config.robot.joint == "gripper"


@pytest.mark.assets
def test_mjcf_passes_lint() -> None:
    from sensorimotor.sim.lint import lint_paths
    from sensorimotor.sim.scenes import ASSETS_DIR

    findings = lint_paths(
        [ASSETS_DIR / "scenes/so101_desk.xml", ASSETS_DIR / "robots/so101/so101.xml"]
    )
    assert findings.findings == []


class FakeServo:
    """A joint that follows a first-order lag: settles to within `tolerance` after a known time."""

    def __init__(self, tau: float) -> None:
        self.tau, self.t, self.position, self.target = tau, 0.0, 0.0, 0.0

    def wait(self, seconds: float) -> None:
        self.t += seconds
        self.position = self.target + (self.position - self.target) * np.exp(-seconds / self.tau)

    def mover(self, delta: float):  # noqa: ANN201
        def move() -> None:
            self.target += delta

        return move


def test_settle_time_of_a_known_lag() -> None:
    servo = FakeServo(tau=0.05)
    settings = SettleSettings()
    measured = measure_settle_time(
        lambda: servo.position,
        servo.mover(10.0),
        wait=servo.wait,
        clock=lambda: servo.t,
        settings=settings,
    )
    # the range over 50 ms drops below 0.5 once 10 * exp(-t/tau) * (1 - exp(-0.05/tau)) < 0.5
    expected = -0.05 * np.log(0.5 / (10 * (1 - np.exp(-1))))
    assert abs(measured - expected) <= 0.02


def test_calibration_takes_the_slowest_move_with_margin() -> None:
    servo = FakeServo(tau=0.05)
    slow = FakeServo(tau=0.1)
    result = calibrate(
        lambda: servo.position + slow.position,
        [servo.mover(10.0), slow.mover(-10.0)],
        wait=lambda s: (servo.wait(s), slow.wait(s)),
        clock=lambda: servo.t,
    )
    assert result.settle_times[1] > result.settle_times[0]
    assert result.action_duration == pytest.approx(1.2 * max(result.settle_times), abs=1e-3)


def test_a_joint_that_never_settles_is_an_error() -> None:
    clock = [0.0]
    with pytest.raises(UserError, match="did not settle"):
        measure_settle_time(
            lambda: 5 * np.sin(clock[0] * 60),
            lambda: None,
            wait=lambda s: clock.__setitem__(0, clock[0] + s),
            clock=lambda: clock[0],
            settings=SettleSettings(timeout=1.0),
        )


def test_calibration_on_the_simulated_arm(robot) -> None:  # noqa: ANN001
    j = robot.joint_index

    def move(sign: float):  # noqa: ANN202
        def send() -> None:
            targets = robot.positions().astype(float)
            targets[j] += sign * 10.0
            robot.set_targets(targets)

        return send

    result = calibrate(
        lambda: float(robot.positions()[j]),
        [move(1), move(-1)],
        wait=robot.advance,
        clock=lambda: float(robot.data.time),
    )
    assert all(0.05 < t < 1.0 for t in result.settle_times)
    # after the calibrated duration a move is done: most of the way there, and what is left
    # moves less than the tolerance over the next stable window (50 ms)
    before = float(robot.positions()[j])
    move(1)()
    robot.advance(result.action_duration)
    settled = float(robot.positions()[j])
    robot.advance(0.05)
    assert abs(float(robot.positions()[j]) - settled) < 0.5
    assert 8.5 < settled - before < 11.0


def test_record_command_and_episode_time() -> None:
    plan = RecordPlan(port="/dev/ttyACM1", repo_id="me/moves", root="data/moves", joint_name="wrist_flex",
                      sequence=[1, 0, 2, 0, 1], action_duration=0.4)  # fmt: skip
    assert episode_time(plan) == pytest.approx(5 * 0.4 + 5)
    argv = lerobot_record_command(plan)
    assert argv[0] == "lerobot-record"
    for arg in ("--policy.type=simple_joint", "--policy.joint_name=wrist_flex", "--policy.sequence=[1,0,2,0,1]",
                "--dataset.episode_time_s=7.0", "--robot.port=/dev/ttyACM1",
                "--policy.log_dir=data/moves/meta/discrete_action_logs"):  # fmt: skip
        assert arg in argv
    with pytest.raises(UserError, match="--episode-time"):
        episode_time(RecordPlan(port="p", repo_id="r", root="x", mode="random"))
    with pytest.raises(UserError, match="--sequence"):
        RecordPlan(port="p", repo_id="r", root="x", mode="sequence", sequence=[3])


def test_verification_preview_colours_each_action(robot) -> None:  # noqa: ANN001
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    space = robot.action_space
    strip = verification_preview(
        lambda a: robot.execute_action(space[a]), lambda: robot.get_observation()["image"], palette
    )
    assert strip.shape == (80, 5 * 48 + 4 * 8, 3)
    separators = [strip[0, 48 + k * 56] for k in range(4)]
    np.testing.assert_array_equal(separators, palette[[1, 0, 2, 0]])


def test_cli_so101_record_on_the_simulated_arm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sensorimotor.cli import main

    preview = tmp_path / "preview.png"
    code = main(["so101", "record", "--repo-id", "me/moves", "--sim", "--sequence", "1,0,2",
                 "--preview", str(preview)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and preview.is_file()
    duration = float(out.split("action duration ")[1].split(" s")[0])
    assert "--policy.action_duration=" + str(duration) in out
    assert f"--dataset.episode_time_s={round(3 * duration + 5, 3)}" in out
    assert main(["so101", "record", "--repo-id", "me/moves", "--sequence", "1,x"]) == 2
    # a real arm that cannot be driven (here: a LeRobot environment that fails) is a clear error
    for python in ("false", str(tmp_path / "no-such-python")):
        assert main(["so101", "record", "--repo-id", "me/moves", "--lerobot-python", python]) == 2
    err = capsys.readouterr().err
    assert "could not be driven" in err and "not found" in err
