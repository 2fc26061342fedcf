"""Offscreen rendering of MuJoCo scenes: RGB, depth or segmentation frames, videos, PNGs.

Every render runs ``mj_forward`` first, so frames always match ``data.qpos``. In headless mode
(EGL/OSMesa) a camera must be named: the free camera is refused. Frames:

- RGB: ``uint8 (H, W, 3)``;
- depth: ``float32 (H, W)`` in metres;
- segmentation: ``int32 (H, W, 2)``: object id and ``mjtObj`` type per pixel (id -1 = background).
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.sim.gl import context_error, gl_backend, is_headless, require_rendering
from sensorimotor.sim.scenes import camera_names

ControlFn = Callable[[mujoco.MjModel, mujoco.MjData, int], None]


_LIVE: weakref.WeakSet[Renderer] = weakref.WeakSet()
_ATEXIT_REGISTERED = False


def _close_live_renderers() -> None:
    """Close renderers still open at exit, before the EGL display is terminated."""
    for renderer in list(_LIVE):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            renderer.close()


class RenderError(UserError):
    """A render request that cannot be satisfied (camera, size, frame format)."""


@dataclass(frozen=True)
class RenderConfig:
    """What to render: a named camera (or camera id), the size, and RGB / depth / segmentation.

    ``camera=None`` is MuJoCo's free camera, available only with a display (``MUJOCO_GL=glfw``).
    ``shadows`` / ``reflections`` off render several times faster with software OpenGL (Mesa).
    """

    camera: str | int | None = None
    width: int = 224
    height: int = 224
    depth: bool = False
    segmentation: bool = False
    shadows: bool = True
    reflections: bool = True

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise RenderError(
                f"render size must be positive, got width={self.width} height={self.height}"
            )
        if self.depth and self.segmentation:
            raise RenderError("RenderConfig: choose depth or segmentation, not both")

    @property
    def kind(self) -> str:
        """``"rgb"``, ``"depth"`` or ``"segmentation"``."""
        return "depth" if self.depth else "segmentation" if self.segmentation else "rgb"


def resolve_camera(
    model: mujoco.MjModel, camera: str | int | mujoco.MjvCamera | None
) -> int | mujoco.MjvCamera:
    """The camera id of a name or id; ``-1`` for the free camera (refused when headless).

    A ``mujoco.MjvCamera`` placed by the caller (lookat, distance, azimuth, elevation) is passed
    through: it is a programmatic viewpoint, not the interactive free camera.
    """
    if isinstance(camera, mujoco.MjvCamera):
        return camera
    names = camera_names(model)
    if camera is None or camera == -1 or camera == "free":
        if is_headless():
            raise RenderError(
                f"the free camera cannot be used in headless mode (MUJOCO_GL={gl_backend()}); "
                f"name one of the model's cameras: {names or '(the model has none; add a <camera>)'}"
            )
        return -1
    if isinstance(camera, int | np.integer) and not isinstance(camera, bool):
        if not 0 <= camera < model.ncam:
            raise RenderError(f"camera id {camera} out of range; the model has cameras {names}")
        return int(camera)
    camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, str(camera))
    if camera_id < 0:
        raise RenderError(f"unknown camera {camera!r}; the model has cameras {names}")
    return camera_id


class Renderer:
    """An offscreen renderer for one model and size; reuse it for many frames, then ``close()``.

    The model's offscreen buffer (``<visual><global offwidth offheight>``) is enlarged when the
    requested size needs it.
    """

    def __init__(self, model: mujoco.MjModel, width: int = 224, height: int = 224) -> None:
        require_rendering()
        if width < 1 or height < 1:
            raise RenderError(f"render size must be positive, got width={width} height={height}")
        self.model = model
        self.width, self.height = int(width), int(height)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        try:
            self._renderer: mujoco.Renderer | None = mujoco.Renderer(
                model, height=self.height, width=self.width
            )
        except (RuntimeError, AttributeError, OSError, ImportError, mujoco.FatalError) as e:
            raise context_error(e) from None
        global _ATEXIT_REGISTERED
        if not _ATEXIT_REGISTERED:  # after MuJoCo's own atexit hook, so it runs before it
            atexit.register(_close_live_renderers)
            _ATEXIT_REGISTERED = True
        _LIVE.add(self)
        self._mode = "rgb"
        self._segmentation_ids: np.ndarray | None = None

    def _set_mode(self, kind: str) -> None:
        assert self._renderer is not None
        if kind == self._mode:
            return
        self._renderer.disable_depth_rendering()
        self._renderer.disable_segmentation_rendering()
        if kind == "depth":
            self._renderer.enable_depth_rendering()
        elif kind == "segmentation":
            self._renderer.enable_segmentation_rendering()
        self._mode = kind

    def render(
        self,
        data: mujoco.MjData,
        camera: str | int | mujoco.MjvCamera | None,
        kind: str = "rgb",
        scene_option: mujoco.MjvOption | None = None,
        shadows: bool = True,
        reflections: bool = True,
    ) -> np.ndarray:
        """One frame of ``data`` from ``camera`` (``kind``: rgb, depth or segmentation)."""
        if self._renderer is None:
            raise RenderError("this Renderer is closed")
        if kind not in ("rgb", "depth", "segmentation"):
            raise RenderError(f"kind must be rgb, depth or segmentation, got {kind!r}")
        camera_id = resolve_camera(self.model, camera)
        mujoco.mj_forward(self.model, data)
        self._set_mode(kind)
        self._renderer.update_scene(data, camera=camera_id, scene_option=scene_option)
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = reflections
        frame = self._renderer.render()
        if kind == "depth":
            return np.asarray(frame, np.float32)
        if kind == "segmentation":
            return np.asarray(frame, np.int32)
        return np.asarray(frame, np.uint8)

    def render_config(self, data: mujoco.MjData, config: RenderConfig) -> np.ndarray:
        """One frame of ``data`` as ``config`` asks (its size must match this renderer)."""
        if (config.width, config.height) != (self.width, self.height):
            raise RenderError(
                f"renderer is {self.width}x{self.height} but the config asks for "
                f"{config.width}x{config.height}"
            )
        return self.render(
            data,
            config.camera,
            config.kind,
            shadows=config.shadows,
            reflections=config.reflections,
        )

    def close(self) -> None:
        """Free the OpenGL context; safe to call twice."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have freed GL already
            self.close()


def render_frame(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    config: RenderConfig,
    renderer: Renderer | None = None,
) -> np.ndarray:
    """One frame of the current state (``mj_forward`` first); pass ``renderer`` to reuse a context."""
    if renderer is not None:
        return renderer.render_config(data, config)
    with Renderer(model, config.width, config.height) as own:
        return own.render_config(data, config)


def render_trajectory(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    n_steps: int,
    config: RenderConfig,
    render_every: int = 1,
    control: ControlFn | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Step ``n_steps`` times from the current state, rendering the start and every ``render_every`` steps.

    ``control(model, data, step)`` (optional) sets ``data.ctrl`` before each step. Returns
    ``N = n_steps // render_every + 1`` frames stacked: ``(N, H, W, 3)`` uint8 for RGB.
    """
    if n_steps < 0 or render_every < 1:
        raise RenderError(f"need n_steps >= 0 and render_every >= 1, got {n_steps}, {render_every}")
    resolve_camera(model, config.camera)  # fail before any work
    frames = []
    with Renderer(model, config.width, config.height) as renderer:
        frames.append(renderer.render_config(data, config))
        steps = range(n_steps)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc="render", unit="step")
        for step in steps:
            if control is not None:
                control(model, data, step)
            mujoco.mj_step(model, data)
            if (step + 1) % render_every == 0:
                frames.append(renderer.render_config(data, config))
    return np.stack(frames)


def depth_to_rgb(
    depth: np.ndarray, near: float | None = None, far: float | None = None
) -> np.ndarray:
    """Depth ``(…, H, W)`` in metres as grey ``uint8 (…, H, W, 3)`` (near = white, far = black)."""
    depth = np.asarray(depth, np.float32)
    finite = depth[np.isfinite(depth)]
    lo = float(finite.min()) if near is None and finite.size else (near or 0.0)
    hi = float(finite.max()) if far is None and finite.size else (far or 1.0)
    scaled = 1.0 - np.clip((depth - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    grey = np.nan_to_num(scaled * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def segmentation_to_rgb(segmentation: np.ndarray, seed: int = 0) -> np.ndarray:
    """Segmentation ``(…, H, W, 2)`` as ``uint8 (…, H, W, 3)``: one fixed colour per object id."""
    ids = np.asarray(segmentation)[..., 0].astype(np.int64)
    palette = np.random.default_rng(seed).integers(40, 256, size=(int(ids.max()) + 2, 3))
    palette[0] = 0  # background (id -1)
    return palette[ids + 1].astype(np.uint8)


def _as_rgb_frames(frames: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    if len(frames) == 0:
        raise RenderError(f"{what}: no frames given")
    array = np.asarray(frames)
    if array.dtype != np.uint8:
        raise RenderError(
            f"{what}: frames must be uint8 (N, H, W, 3) or (N, H, W), got {array.dtype}; convert "
            "depth with depth_to_rgb and segmentation with segmentation_to_rgb"
        )
    if array.ndim == 3:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 4 or array.shape[-1] not in (3, 4):
        raise RenderError(f"{what}: expected frames of shape (N, H, W, 3), got {array.shape}")
    return array[..., :3]


def save_video(
    frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: float = 30.0
) -> Path:
    """Write uint8 frames ``(N, H, W, 3)`` as an H.264 MP4 (imageio-ffmpeg); odd sizes are padded."""
    if fps <= 0:
        raise RenderError(f"fps must be positive, got {fps}")
    array = _as_rgb_frames(frames, "save_video")
    pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
    if pad_h or pad_w:  # yuv420p needs even sizes
        array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise UserError(
            "save_video needs imageio and imageio-ffmpeg: pip install -e '.[sim]'"
        ) from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(
        path, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p", quality=8
    ) as writer:
        for frame in array:
            writer.append_data(frame)
    return path


def save_sample_frames(
    frames: np.ndarray | Sequence[np.ndarray],
    directory: str | Path,
    count: int | None = None,
    prefix: str = "frame",
) -> list[Path]:
    """Write frames as PNGs (``<prefix>_<index>.png``); ``count`` picks that many evenly spaced."""
    from PIL import Image

    array = _as_rgb_frames(frames, "save_sample_frames")
    indices = np.arange(len(array))
    if count is not None and count < len(array):
        if count < 1:
            raise RenderError(f"count must be >= 1, got {count}")
        indices = np.unique(np.linspace(0, len(array) - 1, count).round().astype(int))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in indices:
        path = directory / f"{prefix}_{int(i):06d}.png"
        Image.fromarray(array[i]).save(path)
        paths.append(path)
    return paths
