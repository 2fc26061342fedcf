"""OpenGL backend selection for headless MuJoCo rendering.

MuJoCo's Python bindings read ``MUJOCO_GL`` once, when ``mujoco`` is first imported, so the
choice is made here, before any ``sim`` module imports MuJoCo:

- ``MUJOCO_GL`` unset: ``egl`` when ``libEGL`` is installed, else ``osmesa`` when ``libOSMesa``
  is, else rendering is unavailable (physics still works);
- ``MUJOCO_GL=egl`` / ``osmesa`` whose library is missing: rendering is unavailable, physics
  still works (MuJoCo itself would fail to import), and :func:`require_rendering` names the
  Debian package to install;
- ``glfw`` (or another value MuJoCo accepts) is left alone; it needs a display.

``PYOPENGL_PLATFORM`` is set to match the headless backend.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

from sensorimotor.core.errors import UserError

#: Backends that render without a display.
HEADLESS_BACKENDS = ("egl", "osmesa")
#: What ctypes looks for, and the Debian packages that provide it.
_LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa"}
DEBIAN_PACKAGES = {
    "egl": "libegl1 libegl-mesa0 (EGL; add libgl1-mesa-dri for Mesa's software renderer)",
    "osmesa": "libosmesa6 (OSMesa software rendering)",
    "glfw": "libglfw3 (and a display: DISPLAY must be set)",
}
_DISABLED = ("disable", "disabled", "off", "false", "0")


class RenderBackendError(UserError):
    """No working OpenGL backend for offscreen rendering."""


_state: dict[str, str | None] = {"backend": None, "problem": None, "late": None}


def _library_available(backend: str) -> bool:
    library = _LIBRARIES.get(backend)
    return library is None or ctypes.util.find_library(library) is not None


def _install_hint(backend: str) -> str:
    return f"install the Debian package(s) {DEBIAN_PACKAGES[backend]} (apt-get install ...)"


def configure_gl_backend() -> str:
    """Choose ``MUJOCO_GL`` before MuJoCo is imported; returns the backend in effect."""
    if _state["backend"] is not None:
        return _state["backend"]
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    problem: str | None = None
    if "mujoco" in sys.modules:
        backend = requested or "glfw"  # too late to change; MuJoCo already chose
        _state["late"] = "" if requested else "yes"
    elif not requested:
        backend = next((b for b in HEADLESS_BACKENDS if _library_available(b)), "")
        if backend:
            os.environ["MUJOCO_GL"] = backend
        else:
            problem = (
                "no headless OpenGL library found (neither libEGL nor libOSMesa); "
                "install libegl1 libegl-mesa0 or libosmesa6 with apt-get"
            )
            os.environ["MUJOCO_GL"] = backend = "disable"
    elif requested in HEADLESS_BACKENDS and not _library_available(requested):
        problem = (
            f"MUJOCO_GL={requested} but lib{_LIBRARIES[requested]} is not installed: "
            f"{_install_hint(requested)}, or choose another backend (MUJOCO_GL=egl or osmesa)"
        )
        os.environ["MUJOCO_GL"] = backend = "disable"
    elif requested in _DISABLED:
        problem = f"rendering is disabled (MUJOCO_GL={requested}); set MUJOCO_GL=egl to render"
        backend = "disable"
    else:
        backend = requested
    if backend in HEADLESS_BACKENDS:
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    _state["backend"], _state["problem"] = backend, problem
    return backend


def gl_backend() -> str:
    """The OpenGL backend MuJoCo renders with (``egl``, ``osmesa``, ``glfw``, ``disable``)."""
    return configure_gl_backend()


def is_headless() -> bool:
    """Whether rendering happens without a display (EGL or OSMesa)."""
    return gl_backend() in HEADLESS_BACKENDS


def require_rendering() -> str:
    """The backend, or a :class:`RenderBackendError` saying what to install."""
    backend = configure_gl_backend()
    if _state["problem"]:
        raise RenderBackendError(_state["problem"])
    return backend


def context_error(error: BaseException) -> RenderBackendError:
    """A clear error for a failure to create an OpenGL context with the current backend."""
    backend = gl_backend()
    hint = (
        _install_hint(backend)
        if backend in DEBIAN_PACKAGES
        else "set MUJOCO_GL=egl (or osmesa) to render headless"
    )
    if backend == "glfw" and not os.environ.get("DISPLAY"):
        hint = "MUJOCO_GL=glfw needs a display; set MUJOCO_GL=egl (or osmesa) to render headless"
        if _state["late"]:
            hint += (
                " (MuJoCo was imported before sensorimotor.sim with MUJOCO_GL unset, so it chose "
                "glfw: export MUJOCO_GL=egl, or import sensorimotor.sim first)"
            )
    return RenderBackendError(
        f"could not create an OpenGL context with MUJOCO_GL={backend} "
        f"({type(error).__name__}: {error}); {hint}"
    )
