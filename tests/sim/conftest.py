"""Fixtures of the sim tests: skip rendering tests when no OpenGL backend works."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("mujoco") is not None:
    # Choose the GL backend before any test module imports MuJoCo (MuJoCo reads MUJOCO_GL once).
    import sensorimotor.sim  # noqa: F401


@pytest.fixture(scope="session")
def _gl_problem() -> str | None:
    """Why offscreen rendering is impossible here, or None when a tiny render works."""
    try:
        import mujoco

        from sensorimotor.sim.render import Renderer
    except ImportError as e:
        return f"MuJoCo is not installed ({e})"
    from sensorimotor.core.errors import UserError

    model = mujoco.MjModel.from_xml_string(
        '<mujoco><worldbody><camera name="c" pos="0 0 1"/><geom size="0.1"/></worldbody></mujoco>'
    )
    try:
        with Renderer(model, 8, 8) as renderer:
            renderer.render(mujoco.MjData(model), "c")
    except UserError as e:
        return str(e)
    return None


@pytest.fixture
def gl(_gl_problem: str | None) -> None:
    """Use in tests that render: skips them when no GL backend (EGL/OSMesa) is available."""
    if _gl_problem:
        pytest.skip(f"no OpenGL backend for offscreen rendering: {_gl_problem}")
