"""Robots behind one interface, action selectors, recording, sessions and the runner.

Public names are re-exported lazily, e.g. ``from sensorimotor.robots import make_robot, Robot``.
The MuJoCo and dm_control robots need the ``sim`` extra.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "RobotConfig": "config",
    "SelectorConfig": "config",
    "DmControlRobot": "dm_control",
    "DmControlRobotConfig": "dm_control",
    "make_robot": "factory",
    "make_selector": "factory",
    "GymRobot": "gym",
    "RobotEnv": "gym",
    "Box": "interface",
    "Exhausted": "interface",
    "Robot": "interface",
    "MujocoRobot": "mujoco",
    "MujocoRobotConfig": "mujoco",
    "RecordingRobot": "recording",
    "ROBOTS": "registry",
    "SELECTORS": "registry",
    "RobotRunner": "runner",
    "ConstantSelector": "selectors",
    "RandomDurationSelector": "selectors",
    "RecordedSelector": "selectors",
    "SequenceSelector": "selectors",
    "ReplayRobot": "session",
    "SessionReader": "session",
    "find_session": "session",
    "list_sessions": "session",
    "ToroidalDotConfig": "toroidal_dot",
    "ToroidalDotRobot": "toroidal_dot",
    "wait_for_writer": "writer_process",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
