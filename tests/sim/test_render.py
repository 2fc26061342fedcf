"""Offscreen rendering tests (EGL/OSMesa; skipped when MuJoCo is missing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.mujoco, pytest.mark.usefixtures("gl")]

mujoco = pytest.importorskip("mujoco")

from sensorimotor.sim.gl import gl_backend  # noqa: E402
from sensorimotor.sim.render import (  # noqa: E402
    RenderConfig,
    Renderer,
    RenderError,
    depth_to_rgb,
    render_frame,
    render_trajectory,
    save_sample_frames,
    save_video,
    segmentation_to_rgb,
)
from sensorimotor.sim.scenes import load_scene  # noqa: E402


@pytest.fixture(scope="module")
def scene() -> tuple:
    return load_scene("test_scene")


def test_test_scene_renders_non_black_and_deterministic(scene: tuple) -> None:
    model, data = scene
    config = RenderConfig("overhead", 96, 80)
    a = render_frame(model, data, config)
    b = render_frame(model, data, config)  # a fresh GL context
    assert a.shape == (80, 96, 3) and a.dtype == np.uint8
    assert a.mean() > 20 and a.std() > 5  # not black, not uniform
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    front = render_frame(model, data, RenderConfig("front", 96, 80))
    assert not np.array_equal(a, front)


def test_render_follows_qpos_because_of_mj_forward(scene: tuple) -> None:
    model, _ = scene
    data = mujoco.MjData(model)
    with Renderer(model, 64, 64) as renderer:
        before = renderer.render(data, "overhead")
        data.qpos[model.joint("pusher_x").qposadr[0]] = 0.3  # no mj_forward by the caller
        after = renderer.render(data, "overhead")
    assert np.abs(before.astype(int) - after.astype(int)).max() > 50


def test_depth_and_segmentation(scene: tuple) -> None:
    model, data = scene
    depth = render_frame(model, data, RenderConfig("overhead", 64, 48, depth=True))
    assert depth.shape == (48, 64) and depth.dtype == np.float32
    # The camera is 1.75 m above the floor and 1.0 m above the table top.
    assert 0.9 < float(np.median(depth)) < 1.1
    seg = render_frame(model, data, RenderConfig("overhead", 64, 48, segmentation=True))
    assert seg.shape == (48, 64, 2) and seg.dtype == np.int32
    table = model.geom("table_top").id
    assert (seg[..., 0] == table).mean() > 0.3
    assert depth_to_rgb(depth).shape == (48, 64, 3)
    assert segmentation_to_rgb(seg).dtype == np.uint8
    with pytest.raises(RenderError, match="not both"):
        RenderConfig("overhead", depth=True, segmentation=True)


def test_camera_errors(scene: tuple) -> None:
    model, data = scene
    assert gl_backend() in ("egl", "osmesa")
    with pytest.raises(RenderError, match="free camera cannot be used in headless mode") as info:
        render_frame(model, data, RenderConfig(None, 32, 32))
    assert "overhead" in str(info.value)
    with pytest.raises(RenderError, match="unknown camera 'nope'"):
        render_frame(model, data, RenderConfig("nope", 32, 32))
    with pytest.raises(RenderError, match="out of range"):
        render_frame(model, data, RenderConfig(7, 32, 32))
    assert render_frame(model, data, RenderConfig(0, 32, 32)).shape == (32, 32, 3)


def test_size_beyond_the_offscreen_buffer_is_allowed() -> None:
    model, data = load_scene("test_scene")
    wide = model.vis.global_.offwidth + 16
    frame = render_frame(model, data, RenderConfig("overhead", wide, 32))
    assert frame.shape == (32, wide, 3)


def test_render_trajectory_and_physics_unperturbed() -> None:
    model, data = load_scene("test_scene")
    data.ctrl[:] = [0.2, -0.1]
    frames = render_trajectory(model, data, 40, RenderConfig("overhead", 48, 48), render_every=10)
    assert frames.shape == (5, 48, 48, 3)
    assert not np.array_equal(frames[0], frames[-1])  # the pusher moved
    # Rendering (with its mj_forward calls) does not change the trajectory.
    _, plain = load_scene("test_scene")
    plain.ctrl[:] = [0.2, -0.1]
    mujoco.mj_step(model, plain, nstep=40)
    np.testing.assert_array_equal(plain.qpos, data.qpos)
    np.testing.assert_array_equal(plain.qvel, data.qvel)


def test_save_video_and_frames(tmp_path: Path) -> None:
    import imageio.v2 as imageio

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 31, 45, 3), dtype=np.uint8)  # odd sizes get padded
    path = save_video(frames, tmp_path / "out" / "v.mp4", fps=5)
    assert path.stat().st_size > 0
    reader = imageio.get_reader(path)
    read = [f for f in reader]
    reader.close()
    assert len(read) == 6 and read[0].shape == (32, 46, 3)
    paths = save_sample_frames(frames, tmp_path / "frames", count=3)
    assert [p.name for p in paths] == ["frame_000000.png", "frame_000002.png", "frame_000005.png"]
    with pytest.raises(RenderError, match="uint8"):
        save_video(frames.astype(np.float32), tmp_path / "bad.mp4")
    with pytest.raises(RenderError, match="no frames"):
        save_sample_frames([], tmp_path / "none")


def test_shadows_can_be_switched_off(scene: tuple) -> None:
    model, data = scene
    lit = render_frame(model, data, RenderConfig("overhead", 64, 64))
    flat = render_frame(model, data, RenderConfig("overhead", 64, 64, shadows=False))
    assert np.abs(lit.astype(int) - flat.astype(int)).max() > 10
