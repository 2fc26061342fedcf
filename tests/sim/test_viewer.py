"""The interactive viewer (needs a display; skipped headless)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.mujoco, pytest.mark.viewer]


def test_viewer_opens_and_closes() -> None:
    from sensorimotor.sim.viewer import view_scene

    view_scene("test_scene", show_contacts=True, show_joints=True, max_seconds=1.0)
