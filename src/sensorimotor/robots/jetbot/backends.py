"""The hardware behind the JetBot service: the real robot or a MuJoCo simulation of it.

A backend has ``frame(width, height) -> uint8 (H, W, 3)``, ``set_motors(left, right)``,
``advance(seconds)``, ``status() -> dict`` and ``close()``; a simulated one also ``reset()``, which
puts its world back to the initial state (nothing can do that for the real robot).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sensorimotor.core.errors import UserError

SIM_SCENE = "jetbot_arena"
_MAX_RENDERERS = 4  # frame sizes with a live renderer (each holds an offscreen GL buffer)


class SimBackend:
    """A differential-drive JetBot in a MuJoCo arena (``sim/assets/scenes/jetbot_arena.xml``).

    Motor commands are wheel-speed fractions (``ctrl`` of the velocity servos ``motor_left`` /
    ``motor_right``). Physics advances only in :meth:`advance` (as fast as it can, or at wall-clock
    pace with ``realtime``), so a run is deterministic for a given action sequence.
    """

    def __init__(
        self,
        scene: str = SIM_SCENE,
        camera: str = "camera",
        realtime: bool = False,
        shadows: bool = False,
        settle_s: float = 0.5,
    ) -> None:
        import mujoco

        from sensorimotor.sim.scenes import actuator_names, camera_names, load_scene

        self._mujoco = mujoco
        self.model, self.data = load_scene(scene)
        names = actuator_names(self.model)
        missing = [a for a in ("motor_left", "motor_right") if a not in names]
        if missing or camera not in camera_names(self.model):
            raise UserError(
                f"scene {scene!r} is not a JetBot scene: it needs actuators motor_left/motor_right "
                f"and a camera {camera!r}; it has actuators {names} and cameras {camera_names(self.model)}"
            )
        self._motor_ids = [names.index("motor_left"), names.index("motor_right")]
        self.camera = camera
        self.realtime = realtime
        self.shadows = shadows
        self._renderers: dict[tuple[int, int], Any] = {}
        # The controller's thread steps physics while a connection's thread may render.
        self._lock = threading.Lock()
        # An OpenGL (EGL) context belongs to the thread that made it current, and the server serves
        # each connection on its own thread: every render runs on this one thread instead.
        self._gl_thread = ThreadPoolExecutor(1, thread_name_prefix="jetbot-render")
        self.settle_s = settle_s
        # Let the robot settle onto its wheels, so the first frames are of a robot at rest.
        self.advance(settle_s)

    def reset(self) -> None:
        """Back to the initial state, motors off, settled: the same state as a fresh backend."""
        from sensorimotor.sim.scenes import reset_data

        with self._lock:
            reset_data(self.model, self.data)
            self.data.ctrl[:] = 0.0
        self.advance(self.settle_s)

    def set_motors(self, left: float, right: float) -> None:
        with self._lock:
            self.data.ctrl[self._motor_ids] = (left, right)

    def advance(self, seconds: float) -> None:
        start = time.perf_counter()
        n = max(1, round(seconds / self.model.opt.timestep))
        with self._lock:
            self._mujoco.mj_step(self.model, self.data, nstep=n)
        if self.realtime:
            time.sleep(max(0.0, seconds - (time.perf_counter() - start)))

    def frame(self, width: int, height: int) -> np.ndarray:
        return self._gl_thread.submit(self._render, width, height).result()

    def _render(self, width: int, height: int) -> np.ndarray:
        with self._lock:
            renderer = self._renderers.get((width, height))
            if renderer is None:
                from sensorimotor.sim.render import Renderer

                if len(self._renderers) >= _MAX_RENDERERS:  # clients asking for ever new sizes
                    self._renderers.pop(next(iter(self._renderers))).close()
                renderer = self._renderers[(width, height)] = Renderer(self.model, width, height)
            return renderer.render(self.data, self.camera, shadows=self.shadows, reflections=False)

    def status(self) -> dict[str, Any]:
        """Simulated time and the robot's planar pose (x, y in metres, yaw in radians)."""
        with self._lock:
            w, x, y, z = (float(v) for v in self.data.qpos[3:7])
            return {
                "time": float(self.data.time),
                "x": float(self.data.qpos[0]),
                "y": float(self.data.qpos[1]),
                "yaw": float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))),
            }

    def close(self) -> None:
        self._gl_thread.submit(self._close_renderers).result()
        self._gl_thread.shutdown()

    def _close_renderers(self) -> None:
        with self._lock:
            for renderer in self._renderers.values():
                renderer.close()
            self._renderers.clear()


class RealBackend:
    """The JetBot's own motors and CSI camera through NVIDIA's ``jetbot`` package (on the robot)."""

    def __init__(self, width: int = 224, height: int = 224) -> None:
        try:
            from jetbot import Camera, Robot  # type: ignore[import-not-found]
        except ImportError as e:
            raise UserError(
                f"--backend real needs NVIDIA's `jetbot` package, which is installed on the JetBot "
                f"image (import failed: {e}); on a workstation use --backend sim"
            ) from None
        self.robot = Robot()
        self.camera = Camera.instance(width=width, height=height)
        self.size = (width, height)

    def set_motors(self, left: float, right: float) -> None:
        self.robot.set_motors(left, right)

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)

    def frame(self, width: int, height: int) -> np.ndarray:
        bgr = np.asarray(self.camera.value)
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        if (width, height) != (rgb.shape[1], rgb.shape[0]):
            from PIL import Image

            rgb = np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR))
        return rgb

    def status(self) -> dict[str, Any]:
        return {"time": time.time()}

    def close(self) -> None:
        self.robot.stop()
        self.camera.stop()


def make_backend(name: str, **options: Any) -> SimBackend | RealBackend:
    """The backend called ``name`` (``sim`` or ``real``)."""
    if name == "sim":
        return SimBackend(**options)
    if name == "real":
        return RealBackend(**options)
    raise UserError(f"--backend must be 'sim' or 'real', got {name!r}")
