"""Motor ramp profiles and the controller that plays them on a backend.

A JetBot's gearbox does not like instant jumps of the motor command, so every change is ramped
with a raised-cosine curve. A duration action ``(left, right, duration)`` becomes one profile:
ramp up from 0 over ``ramp_s``, hold, ramp down to 0 over the last ``ramp_s``, then stop. An
action shorter than two ramps peaks at its middle at the full command (a bell shape).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

import numpy as np

#: Control ticks per second while a profile plays (the real JetBot's motor driver is updated at this
#: rate; the simulation steps its physics in ticks of the same length).
TICK_HZ = 50.0
MAX_DURATION_S = 5.0


class MotorBackend(Protocol):
    """What the controller needs from the hardware (real or simulated)."""

    def set_motors(self, left: float, right: float) -> None:
        """Command both motors (fractions of full speed in [-1, 1])."""

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass with the current command (sleep, or step the physics)."""


def ramp_shape(n_ticks: int, ramp_ticks: int) -> np.ndarray:
    """``(n_ticks,)`` gains in [0, 1]: a raised-cosine rise over ``ramp_ticks``, a hold, a mirrored fall.

    Gains are sampled at tick midpoints, so the profile is symmetric and never exactly 0 inside
    the action; with ``n_ticks < 2 * ramp_ticks`` the ramps shrink to meet in the middle.
    """
    if n_ticks <= 0:
        return np.zeros(0)
    ramp = max(1, min(ramp_ticks, n_ticks // 2 if n_ticks > 1 else 1))
    t = np.arange(n_ticks) + 0.5
    rise = np.clip(t / ramp, 0.0, 1.0)
    fall = np.clip((n_ticks - t) / ramp, 0.0, 1.0)
    edge = np.minimum(rise, fall)
    return 0.5 - 0.5 * np.cos(math.pi * edge)


def duration_profile(
    left: float, right: float, duration: float, ramp_s: float, tick_hz: float = TICK_HZ
) -> np.ndarray:
    """``(n, 2)`` motor commands, one per tick, for a duration action (see the module docstring)."""
    n = max(1, round(duration * tick_hz))
    gains = ramp_shape(n, round(ramp_s * tick_hz))
    return gains[:, None] * np.array([left, right], np.float64)[None, :]


def transition_profile(
    start: tuple[float, float],
    target: tuple[float, float],
    ramp_s: float,
    tick_hz: float = TICK_HZ,
) -> np.ndarray:
    """``(n, 2)`` commands easing from ``start`` to ``target`` over ``ramp_s`` (the last equals ``target``)."""
    n = max(1, round(ramp_s * tick_hz))
    s = 0.5 - 0.5 * np.cos(math.pi * (np.arange(1, n + 1) / n))
    a, b = np.asarray(start, np.float64), np.asarray(target, np.float64)
    return a[None, :] + s[:, None] * (b - a)[None, :]


def check_command(left: float, right: float, duration: float | None = None) -> None:
    """Raise ``ValueError`` unless the motor values are finite in [-1, 1] and the duration is sane."""
    for name, value in (("motor_left", left), ("motor_right", right)):
        if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > 1:
            raise ValueError(f"{name} must be a number in [-1, 1], got {value!r}")
    if duration is not None and (
        not isinstance(duration, int | float) or not 0 < duration <= MAX_DURATION_S
    ):
        raise ValueError(f"duration must be in (0, {MAX_DURATION_S}] seconds, got {duration!r}")


class MotorController:
    """Plays profiles on a backend, one at a time, and stops the motors when nobody commands them.

    ``watchdog_s``: a held command (:meth:`hold`) that is not renewed within this many seconds is
    ramped down to 0 by a background thread, so a client that dies or hangs cannot leave the robot
    driving. Duration actions stop by themselves.
    """

    def __init__(
        self,
        backend: MotorBackend,
        ramp_s: float = 0.1,
        watchdog_s: float = 0.5,
        tick_hz: float = TICK_HZ,
    ) -> None:
        self.backend = backend
        self.ramp_s = ramp_s
        self.watchdog_s = watchdog_s
        self.tick_hz = tick_hz
        self.motors = (0.0, 0.0)
        self.last_command = time.monotonic()
        self._lock = threading.RLock()
        #: Held by whoever plays a profile; hold it to change the backend between commands.
        self.lock = self._lock
        self._closed = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="jetbot-watchdog", daemon=True)
        self._watchdog.start()

    def _play(self, profile: np.ndarray) -> None:
        dt = 1.0 / self.tick_hz
        for left, right in profile:
            self.motors = (float(left), float(right))
            self.backend.set_motors(*self.motors)
            self.backend.advance(dt)

    def run_duration(self, left: float, right: float, duration: float) -> None:
        """Drive for ``duration`` seconds with ramps at both ends, then stop (blocks until done)."""
        check_command(left, right, duration)
        with self._lock:
            self.last_command = time.monotonic()
            if self.motors != (0.0, 0.0):
                self._play(transition_profile(self.motors, (0.0, 0.0), self.ramp_s, self.tick_hz))
            self._play(duration_profile(left, right, duration, self.ramp_s, self.tick_hz))
            self._set_now(0.0, 0.0)
            self.last_command = time.monotonic()

    def hold(self, left: float, right: float) -> None:
        """Ease to ``(left, right)`` and keep it until the next command or the watchdog fires."""
        check_command(left, right)
        with self._lock:
            self._play(transition_profile(self.motors, (left, right), self.ramp_s, self.tick_hz))
            self._set_now(left, right)
            self.last_command = time.monotonic()

    def stop(self) -> None:
        """Ramp the motors down to 0 (a no-op when they are already stopped)."""
        with self._lock:
            if self.motors != (0.0, 0.0):
                self._play(transition_profile(self.motors, (0.0, 0.0), self.ramp_s, self.tick_hz))
            self._set_now(0.0, 0.0)

    def _set_now(self, left: float, right: float) -> None:
        self.motors = (float(left), float(right))
        self.backend.set_motors(*self.motors)

    def _watch(self) -> None:
        period = min(0.05, self.watchdog_s / 4)
        while not self._closed.wait(period):
            idle = time.monotonic() - self.last_command
            # Non-blocking: a profile that is playing holds the lock and ends at 0 by itself.
            if (
                self.motors != (0.0, 0.0)
                and idle > self.watchdog_s
                and self._lock.acquire(blocking=False)
            ):
                try:
                    if time.monotonic() - self.last_command > self.watchdog_s:
                        self.stop()
                finally:
                    self._lock.release()

    def close(self) -> None:
        """Stop the motors and the watchdog."""
        self._closed.set()
        self.stop()
