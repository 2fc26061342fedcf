import pytest
from canvas_helpers import tiny_robot, tiny_selector


@pytest.fixture
def robot_and_selector():
    robot = tiny_robot()
    return robot, tiny_selector(robot)
