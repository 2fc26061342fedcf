"""GL backend selection: a missing backend gives a clear error, physics still works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.mujoco

pytest.importorskip("mujoco")

from sensorimotor.sim.gl import RenderBackendError  # noqa: E402
from sensorimotor.sim.render import RenderError  # noqa: E402


def _render_in_subprocess(mujoco_gl: str) -> subprocess.CompletedProcess:
    code = (
        "from sensorimotor.sim import load_scene, RenderConfig, render_frame\n"
        "m, d = load_scene('test_scene')\n"
        "print(render_frame(m, d, RenderConfig('overhead', 32, 32)).shape)\n"
    )
    env = {**os.environ, "MUJOCO_GL": mujoco_gl}
    env.pop("PYOPENGL_PLATFORM", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_osmesa_backend_renders_or_names_the_package() -> None:
    import ctypes.util

    result = _render_in_subprocess("osmesa")
    if ctypes.util.find_library("OSMesa"):
        assert result.returncode == 0, result.stderr
        assert "(32, 32, 3)" in result.stdout
    else:
        # Physics still loads; rendering fails with the Debian package to install.
        assert result.returncode != 0
        assert "RenderBackendError" in result.stderr and "libosmesa6" in result.stderr


def test_render_backend_error_is_a_user_error() -> None:
    from sensorimotor.core.errors import UserError

    assert issubclass(RenderBackendError, UserError)
    assert issubclass(RenderError, UserError)


def test_default_backend_is_egl_when_available() -> None:
    import ctypes.util

    code = "import os, sensorimotor.sim; print(os.environ['MUJOCO_GL'])"
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    expected = "egl" if ctypes.util.find_library("EGL") else "osmesa"
    if not ctypes.util.find_library("EGL") and not ctypes.util.find_library("OSMesa"):
        expected = "disable"
    assert result.stdout.strip() == expected
