"""Shared explorer fixtures: small recorded toroidal-dot sessions under a temporary root, made once
per module (recording and the first model compile are the slow parts)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory, record_session_into):
    """Roots with two recorded sessions (``a``: 40 steps, ``b``: 25 steps)."""
    from sensorimotor.explorer.roots import Roots

    base = tmp_path_factory.mktemp("explorer")
    r = Roots.under(base)
    small = {"width": 32, "height": 32, "dot_radius": 3, "move_pixels": 4}
    record_session_into(r.sessions, 40, seed=0, name="a", **small)
    record_session_into(r.sessions, 25, seed=1, name="b", **small)
    r.runs.mkdir(parents=True)
    return r
