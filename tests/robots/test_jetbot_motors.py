"""Motor ramp profiles and the motor controller (watchdog, stop after a duration)."""

import threading
import time

import numpy as np
import pytest

from sensorimotor.robots.jetbot.motors import (
    MotorController,
    check_command,
    duration_profile,
    ramp_shape,
    transition_profile,
)


class RecordingBackend:
    """Stands in for the motor driver: remembers every command and how long it was held."""

    def __init__(self) -> None:
        self.commands: list[tuple[float, float]] = []
        self.held: list[float] = []
        self.lock = threading.Lock()

    def set_motors(self, left: float, right: float) -> None:
        with self.lock:
            self.commands.append((left, right))

    def advance(self, seconds: float) -> None:
        self.held.append(seconds)


def test_duration_profile_values():
    profile = duration_profile(0.0, 0.12, duration=0.3, ramp_s=0.1, tick_hz=50)
    assert profile.shape == (15, 2)
    np.testing.assert_array_equal(profile[:, 0], 0.0)
    right = profile[:, 1]
    # Raised-cosine ramp over 5 ticks, sampled at tick midpoints: gains 0.0245, 0.206, 0.5, 0.794, 0.976.
    expected_rise = 0.12 * (0.5 - 0.5 * np.cos(np.pi * (np.arange(5) + 0.5) / 5))
    np.testing.assert_allclose(right[:5], expected_rise, atol=1e-12)
    np.testing.assert_allclose(right[5:10], 0.12)
    np.testing.assert_allclose(right[10:], expected_rise[::-1], atol=1e-12)
    assert np.all(np.diff(right[:6]) > 0) and np.all(np.diff(right[9:]) < 0)
    # The largest step between ticks is well below the command: no jump for the gearbox.
    assert np.abs(np.diff(np.r_[0.0, right, 0.0])).max() < 0.04


def test_short_action_peaks_in_the_middle():
    gains = ramp_shape(4, ramp_ticks=10)  # shorter than two ramps: the ramps meet in the middle
    np.testing.assert_allclose(gains, gains[::-1])
    assert gains.argmax() in (1, 2) and gains.max() == pytest.approx(0.8535533905932737)
    assert ramp_shape(0, 5).size == 0


def test_transition_profile_ends_at_target():
    profile = transition_profile((0.5, -0.2), (0.0, 0.3), ramp_s=0.1, tick_hz=50)
    assert profile.shape == (5, 2)
    np.testing.assert_allclose(profile[-1], (0.0, 0.3))
    assert np.all(np.diff(profile[:, 0]) < 0) and np.all(np.diff(profile[:, 1]) > 0)


def test_controller_plays_the_profile_then_stops():
    backend = RecordingBackend()
    motors = MotorController(backend, ramp_s=0.1, watchdog_s=10.0, tick_hz=50)
    try:
        motors.run_duration(0.0, 0.12, 0.3)
        played = np.array(backend.commands)
        np.testing.assert_allclose(played[:-1], duration_profile(0.0, 0.12, 0.3, 0.1, 50))
        assert backend.commands[-1] == (0.0, 0.0) and motors.motors == (0.0, 0.0)
        assert sum(backend.held) == pytest.approx(0.3)
    finally:
        motors.close()


def test_watchdog_stops_a_held_command():
    backend = RecordingBackend()
    motors = MotorController(backend, ramp_s=0.02, watchdog_s=0.2, tick_hz=50)
    try:
        motors.hold(0.4, 0.4)
        assert motors.motors == (0.4, 0.4)
        deadline = time.monotonic() + 5.0
        while motors.motors != (0.0, 0.0) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert motors.motors == (0.0, 0.0)
        assert backend.commands[-1] == (0.0, 0.0)
        # It ramped down rather than cutting the motors.
        tail = [left for left, _ in backend.commands[-3:]]
        assert tail[0] > tail[-1] == 0.0
    finally:
        motors.close()


@pytest.mark.parametrize(
    ("left", "right", "duration"),
    [(1.5, 0.0, 0.1), (0.0, float("nan"), 0.1), (0.0, 0.1, 0.0), (0.0, 0.1, 60.0), ("0.1", 0, 1)],
)
def test_bad_commands_are_refused(left, right, duration):
    with pytest.raises(ValueError, match="motor_left|motor_right|duration"):
        check_command(left, right, duration)
