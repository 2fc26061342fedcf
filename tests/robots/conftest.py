import pytest

from sensorimotor.robots.runner import RobotRunner
from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.session import SessionReader
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot


@pytest.fixture
def recorded_session(tmp_path) -> SessionReader:
    """A 30-step toroidal-dot session recorded with a seeded random-duration selector."""
    robot = ToroidalDotRobot(ToroidalDotConfig(seed=0))
    runner = RobotRunner(
        robot,
        RandomDurationSelector(robot.action_space, 1, 4, seed=0),
        steps=30,
        record_to=tmp_path / "sessions",
        progress=False,
    )
    stats = runner.run()
    return SessionReader(stats.session)
