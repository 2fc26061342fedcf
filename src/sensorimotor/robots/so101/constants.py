"""Names and units shared by the simulated SO-101, the LeRobot conversion and the recording wrapper."""

from __future__ import annotations

#: The arm's motors in LeRobot's order (``observation.state`` / ``action`` entries ``<name>.pos``).
JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")

#: The camera names of the LeRobot recording setup, top to bottom when stacked.
CAMERAS = ("base_0_rgb", "left_wrist_0_rgb")

#: The three discrete actions: index → sign of the joint-target change.
ACTION_SIGNS = (0, 1, -1)
ACTION_NAMES = ("STAY", "MOVE+", "MOVE-")


def discrete_actions(joint: str, position_delta: float) -> list[dict]:
    """The 3-action space on ``joint``: stay, +``position_delta``, −``position_delta`` (degrees)."""
    if joint not in JOINTS:
        raise ValueError(f"joint must be one of {list(JOINTS)}, got {joint!r}")
    return [{"joint": joint, "delta": float(sign * position_delta)} for sign in ACTION_SIGNS]


def camera_layout(cameras: list[str] | tuple[str, ...], height: int, width: int) -> dict:
    """How a stacked ``image`` splits into cameras (stored in session metadata)."""
    return {"stack": "vertical", "cameras": list(cameras), "camera_size": [height, width]}
