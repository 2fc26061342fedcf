"""Fixtures of the sim tests (the GL fixtures `gl`/`_gl_problem` live in tests/conftest.py)."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("mujoco") is not None:
    # Choose the GL backend before any test module imports MuJoCo (MuJoCo reads MUJOCO_GL once).
    import sensorimotor.sim  # noqa: F401
