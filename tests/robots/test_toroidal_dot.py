import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorimotor.robots.toroidal_dot import MOVE, STAY, ToroidalDotConfig, ToroidalDotRobot


def wrapped_centroid_x(image: np.ndarray) -> float:
    """Bright-pixel centroid in x on a circle (so a dot across the seam is located correctly)."""
    ys, xs = np.nonzero(image[..., 0] > 127)
    angles = 2 * np.pi * xs / image.shape[1]
    mean = np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())
    return (mean % (2 * np.pi)) * image.shape[1] / (2 * np.pi)


@settings(max_examples=60, deadline=None)
@given(
    x0=st.integers(0, 223),
    moves=st.lists(st.sampled_from([STAY, MOVE]), max_size=40),
    radius=st.integers(0, 8),
)
def test_dot_wraps_around_in_x_and_keeps_its_shape(x0, moves, radius):
    robot = ToroidalDotRobot(ToroidalDotConfig(initial_x=x0, initial_y=100, dot_radius=radius))
    area = int((robot.get_observation()["image"][..., 0] > 0).sum())
    for action in moves:
        robot.execute_action({"action": action})
    obs = robot.get_observation()
    expected = (x0 + 27 * sum(moves)) % 224
    assert obs["dot_x"] == expected and obs["dot_y"] == 100
    image = obs["image"]
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    assert int((image[..., 0] > 0).sum()) == area  # drawn whole, also across the seam
    assert set(np.unique(image)) <= {0, 255}
    assert abs((wrapped_centroid_x(image) - expected + 112) % 224 - 112) < 0.5
    assert np.all(np.nonzero(image[..., 0])[0] - 100 <= radius)


def test_stay_keeps_the_image_identical():
    robot = ToroidalDotRobot(ToroidalDotConfig(seed=1))
    before = robot.get_observation()["image"]
    robot.execute_action({"action": STAY})
    np.testing.assert_array_equal(robot.get_observation()["image"], before)


def test_random_start_is_seeded_and_visible():
    a = [ToroidalDotRobot(ToroidalDotConfig(seed=s)).get_observation() for s in range(20)]
    b = [ToroidalDotRobot(ToroidalDotConfig(seed=s)).get_observation() for s in range(20)]
    assert [(o["dot_x"], o["dot_y"]) for o in a] == [(o["dot_x"], o["dot_y"]) for o in b]
    assert len({o["dot_x"] for o in a}) > 5
    assert all(5 <= o["dot_y"] < 219 for o in a)


def test_action_space_and_bad_actions():
    robot = ToroidalDotRobot(seed=0)
    assert robot.action_space == [{"action": 0}, {"action": 1}]
    with pytest.raises(ValueError, match="stay.*move"):
        robot.execute_action({"action": 2})
    with pytest.raises(ValueError, match="toroidal_dot action"):
        robot.execute_action({"move": 1})


def test_config_validation_and_overrides():
    with pytest.raises(ValueError, match="initial_x must be in"):
        ToroidalDotConfig(initial_x=224)
    with pytest.raises(ValueError, match="initial_y must be in"):
        ToroidalDotConfig(initial_y=2)
    robot = ToroidalDotRobot(
        width=64, height=32, dot_radius=2, move_pixels=5, initial_x=62, initial_y=10
    )
    robot.execute_action({"action": MOVE})
    assert robot.get_observation()["image"].shape == (32, 64, 3)
    assert robot.x == 3
