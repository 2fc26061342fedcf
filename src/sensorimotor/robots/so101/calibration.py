"""Servo settling calibration: how long one discrete move takes to come to rest.

The recording wrapper sends a move, polls the joint position every ``poll_interval`` (10 ms) and
calls the joint settled once its range over the last ``stable_for`` (50 ms) stays below
``tolerance`` (0.5 position units); the action duration is the slowest settle time × ``margin``
(1.2). Everything hardware-specific comes in as callables (read the position, send a move, wait,
read a clock), so the same logic runs on a real arm and on the simulated one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sensorimotor.core.errors import UserError


@dataclass(frozen=True)
class SettleSettings:
    """Polling and stability thresholds of the settle measurement."""

    poll_interval: float = 0.01  # seconds between position reads
    tolerance: float = 0.5  # position units (degrees on the SO-101)
    stable_for: float = 0.05  # seconds the range must stay under tolerance
    timeout: float = 5.0  # seconds before a move counts as never settling
    margin: float = 1.2  # action duration = slowest settle time x margin


@dataclass(frozen=True)
class Calibration:
    """Measured settle times (seconds) per move and the action duration they imply."""

    settle_times: tuple[float, ...]
    action_duration: float
    settings: SettleSettings = field(default_factory=SettleSettings)


def measure_settle_time(
    read_position: Callable[[], float],
    move: Callable[[], None],
    *,
    wait: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    settings: SettleSettings | None = None,
) -> float:
    """Seconds from ``move()`` until the position's range over ``stable_for`` stays < ``tolerance``."""
    s = settings or SettleSettings()
    start = clock()
    move()
    samples: list[tuple[float, float]] = []
    while True:
        wait(s.poll_interval)
        now = clock()
        samples.append((now, float(read_position())))
        window = [p for t, p in samples if t >= now - s.stable_for - 1e-9]
        spans = now - samples[0][0] >= s.stable_for - 1e-9
        if spans and len(window) >= 2 and max(window) - min(window) < s.tolerance:
            first_stable = next(t for t, _ in samples if t >= now - s.stable_for - 1e-9)
            return max(0.0, first_stable - start)
        if now - start > s.timeout:
            raise UserError(
                f"the joint did not settle within {s.timeout} s (last {len(window)} readings span "
                f"{max(window) - min(window):.2f} units, tolerance {s.tolerance}); check the servo "
                "power and torque, or raise the timeout"
            )


def calibrate(
    read_position: Callable[[], float],
    moves: Sequence[Callable[[], None]],
    *,
    wait: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    settings: SettleSettings | None = None,
) -> Calibration:
    """Measure every move in ``moves`` (e.g. MOVE+ then MOVE−); duration = slowest × margin."""
    s = settings or SettleSettings()
    if not moves:
        raise UserError("calibration needs at least one move")
    times = tuple(
        measure_settle_time(read_position, m, wait=wait, clock=clock, settings=s) for m in moves
    )
    return Calibration(times, round(max(times) * s.margin, 3), s)
