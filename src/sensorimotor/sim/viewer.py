"""The interactive MuJoCo viewer (``sensorimotor sim view``); needs a display.

``mujoco.viewer`` is imported only inside :func:`view_scene`, so headless machines never load it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sensorimotor.core.errors import UserError
from sensorimotor.sim.scenes import load_scene

_KEY_SPACE, _KEY_RIGHT = 32, 262  # GLFW key codes


def has_display() -> bool:
    """Whether an interactive window can be opened (X11/Wayland display, or macOS/Windows)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def view_scene(
    scene: str | Path,
    show_contacts: bool = False,
    show_joints: bool = False,
    paused: bool = False,
    max_seconds: float | None = None,
) -> None:
    """Open ``scene`` in MuJoCo's viewer and simulate it in real time until the window closes.

    ``show_contacts`` draws contact points and forces, ``show_joints`` joint axes; space pauses,
    the right arrow steps once while paused.
    ``max_seconds`` closes the viewer after that much wall time (for scripted checks).
    """
    if not has_display():
        raise UserError(
            "the interactive viewer needs a display (DISPLAY is not set); on a headless machine "
            "use `sensorimotor sim render SCENE` for frames and video, or run under xvfb-run"
        )
    import mujoco
    import mujoco.viewer

    model, data = load_scene(scene)
    state = {"paused": paused, "step": False}

    def on_key(keycode: int) -> None:
        if keycode == _KEY_SPACE:
            state["paused"] = not state["paused"]
        elif keycode == _KEY_RIGHT and state["paused"]:
            state["step"] = True

    start = time.monotonic()
    with mujoco.viewer.launch_passive(model, data, key_callback=on_key) as handle:
        with handle.lock():
            flags = handle.opt.flags
            flags[mujoco.mjtVisFlag.mjVIS_CONTACTPOINT] = show_contacts
            flags[mujoco.mjtVisFlag.mjVIS_CONTACTFORCE] = show_contacts
            flags[mujoco.mjtVisFlag.mjVIS_JOINT] = show_joints
        while handle.is_running():
            if max_seconds is not None and time.monotonic() - start > max_seconds:
                break
            tick = time.monotonic()
            if not state["paused"] or state["step"]:
                state["step"] = False
                with handle.lock():
                    mujoco.mj_step(model, data)
            handle.sync()
            remaining = model.opt.timestep - (time.monotonic() - tick)
            if remaining > 0:
                time.sleep(remaining)
