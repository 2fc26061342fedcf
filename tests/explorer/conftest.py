"""Shared explorer fixtures: small recorded toroidal-dot sessions under a temporary root, made once
per module (recording and the first model compile are the slow parts)."""

from __future__ import annotations

from pathlib import Path

import pytest


def record(root: Path, name: str, steps: int = 40, seed: int = 0) -> Path:
    """A 32x32 toroidal-dot session driven by a seeded random-duration selector."""
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot

    dot = ToroidalDotRobot(
        ToroidalDotConfig(seed=seed, width=32, height=32, dot_radius=3, move_pixels=4)
    )
    runner = RobotRunner(
        dot,
        RandomDurationSelector(dot.action_space, 1, 4, seed=seed),
        steps=steps,
        record_to=root,
        session_name=name,
        progress=False,
    )
    return runner.run().session


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory):
    """Roots with two recorded sessions (``a``: 40 steps, ``b``: 25 steps)."""
    from sensorimotor.explorer.roots import Roots

    base = tmp_path_factory.mktemp("explorer")
    r = Roots.under(base)
    record(r.sessions, "a", 40, seed=0)
    record(r.sessions, "b", 25, seed=1)
    r.runs.mkdir(parents=True)
    return r
