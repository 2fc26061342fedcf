import numpy as np
import pytest

from sensorimotor.robots.interface import Box
from sensorimotor.robots.runner import RobotRunner, parse_action
from sensorimotor.robots.selectors import ConstantSelector, SequenceSelector
from sensorimotor.robots.session import SessionReader
from sensorimotor.robots.toroidal_dot import ToroidalDotRobot


def test_counts_and_timing():
    robot = ToroidalDotRobot(seed=0)
    events = []
    stats = RobotRunner(
        robot,
        SequenceSelector([{"action": 0}, {"action": 1}, {"action": 1}]),
        steps=9,
        progress=False,
        on_step=events.append,
    ).run()
    assert stats.steps == 9 and stats.stopped_by == "steps"
    assert stats.action_counts == {"0": 3, "1": 6}
    assert 0 < stats.step_seconds_p50 <= stats.step_seconds_p95 <= stats.step_seconds_max
    assert [e.step for e in events] == list(range(9))
    assert robot.x == (ToroidalDotRobot(seed=0).x + 6 * 27) % 224


def test_exhausted_selector_ends_cleanly(recorded_session):
    from sensorimotor.robots.selectors import RecordedSelector

    stats = RobotRunner(
        ToroidalDotRobot(seed=0), RecordedSelector(recorded_session), steps=None, progress=False
    ).run()
    assert stats.stopped_by == "exhausted" and stats.steps == 30


def test_interactive_accept_override_invalid_stop(tmp_path):
    answers = iter(["", "1", "7", '{"action": 0}', "stop"])
    prompts = []

    def fake_input(prompt):
        prompts.append(prompt)
        return next(answers)

    robot = ToroidalDotRobot(seed=0)
    stats = RobotRunner(
        robot,
        ConstantSelector({"action": 0}),
        steps=10,
        interactive=True,
        input_fn=fake_input,
        record_to=tmp_path,
        progress=False,
    ).run()
    assert stats.stopped_by == "user" and stats.steps == 3 and stats.overrides == 1
    assert "proposed 0" in prompts[0]
    assert SessionReader(stats.session).actions()[:3] == [
        {"action": 0},
        {"action": 1},
        {"action": 0},
    ]


def test_parse_action():
    space = [{"action": 0}, {"action": 1}]
    assert parse_action("1", space) == {"action": 1}
    assert parse_action('{"action": 0}', space) == {"action": 0}
    with pytest.raises(ValueError, match="index must be in"):
        parse_action("3", space)
    with pytest.raises(ValueError, match="not in the action space"):
        parse_action('{"action": 5}', space)
    box = Box((-1.0, -1.0), (1.0, 1.0))
    np.testing.assert_allclose(parse_action("0.5, 2", box)["action"], [0.5, 1.0])
    with pytest.raises(ValueError, match="expected 2 numbers"):
        parse_action("0.5", box)


def test_the_observation_after_the_last_action_is_recorded(tmp_path):
    robot = ToroidalDotRobot(width=32, height=32, dot_radius=2, move_pixels=5, initial_x=0)
    stats = RobotRunner(
        robot, ConstantSelector({"action": 1}), steps=4, record_to=tmp_path, progress=False
    ).run()
    reader = SessionReader(stats.session)
    assert stats.steps == 4 and len(reader) == 5 and reader.complete
    assert reader.actions() == [{"action": 1}] * 4 + [None]
    assert [reader.observation(i)["dot_x"] for i in range(5)] == [0, 5, 10, 15, 20]
