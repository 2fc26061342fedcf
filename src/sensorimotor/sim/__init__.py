"""MuJoCo simulation tooling: scenes, linting, headless rendering, checks, the rodent simulator.

Importing this package picks the OpenGL backend (see :mod:`sensorimotor.sim.gl`) before MuJoCo
is imported. The main entry points are re-exported lazily:

- :func:`load_scene`, :func:`resolve_scene_path`, :func:`resolve_robot_path`, :func:`available_scenes`
- :class:`RenderConfig`, :func:`render_frame`, :func:`render_trajectory`, :func:`save_video`,
  :func:`save_sample_frames`
- :func:`lint_paths`, :func:`validate_scene`, :func:`make_dm_control_env`
- :class:`RodentSimConfig`, :class:`RodentTracker` (the MuJoCo rodent that makes motion clips)

The MuJoCo and dm_control *robots* live one layer up, in :mod:`sensorimotor.robots`.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports
from sensorimotor.sim.gl import configure_gl_backend

configure_gl_backend()

_EXPORTS = {
    "ASSETS_DIR": "scenes",
    "available_robots": "scenes",
    "available_scenes": "scenes",
    "load_model": "scenes",
    "load_scene": "scenes",
    "resolve_robot_path": "scenes",
    "resolve_scene_path": "scenes",
    "RenderConfig": "render",
    "Renderer": "render",
    "render_frame": "render",
    "render_trajectory": "render",
    "save_sample_frames": "render",
    "save_video": "render",
    "lint_paths": "lint",
    "validate_scene": "checks",
    "RodentSimConfig": "rodent",
    "RodentTracker": "rodent",
    "make_dm_control_env": "dm_control_env",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
