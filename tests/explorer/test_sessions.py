"""The Sessions tab's logic: robot types, action tables, frames, damaged sessions."""

from __future__ import annotations

import numpy as np
import pytest

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.explorer.sessions import (
    action_table,
    frame_images,
    open_session,
    readable_sessions,
    robot_types,
    sessions_of,
)


def test_types_and_action_table_counts(roots) -> None:
    assert robot_types(roots.sessions) == ["toroidal_dot"]
    assert [s.name for s in sessions_of(roots.sessions, "toroidal_dot")] == ["a", "b"]
    a = open_session(roots.sessions / "toroidal_dot" / "a")
    b = open_session(roots.sessions / "toroidal_dot" / "b")
    expected_a = np.bincount([i for i in a.action_indices() if i >= 0], minlength=2)
    expected_b = np.bincount([i for i in b.action_indices() if i >= 0], minlength=2)
    others, notes = readable_sessions(roots.sessions, "toroidal_dot")
    rows, more = action_table(a, others)
    assert not notes and not more
    assert [r.count for r in rows] == list(expected_a)
    assert [r.count_all for r in rows] == list(expected_a + expected_b)  # `a` counted once
    assert sum(r.count for r in rows) == sum(x is not None for x in a.actions())
    assert sum(r.percent for r in rows) == pytest.approx(100.0, abs=0.02)
    assert rows[0].percent == pytest.approx(100 * expected_a[0] / expected_a.sum(), abs=0.01)


def test_frames_every_camera(roots) -> None:
    a = open_session(roots.sessions / "toroidal_dot" / "a")
    images = frame_images(a, 3)
    assert list(images) == a.image_keys and images["image"].shape == (32, 32, 3)
    with pytest.raises(DataError, match="outside"):
        frame_images(a, len(a))


def test_corrupt_and_half_written_sessions(tmp_path) -> None:
    bad = tmp_path / "toroidal_dot" / "bad"
    bad.mkdir(parents=True)
    (bad / "metadata.json").write_text("{not json")
    with pytest.raises(DataError, match="metadata.json"):
        open_session(bad)
    half = tmp_path / "toroidal_dot" / "half"
    half.mkdir()
    (half / "metadata.json").write_text(
        '{"format": "sensorimotor-session/1", "robot_type": "toroidal_dot", "action_space": []}'
    )
    with pytest.raises(UserError):
        open_session(half)
    assert {s.status for s in sessions_of(tmp_path, "toroidal_dot")} == {"corrupt"}
