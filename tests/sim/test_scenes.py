"""Tests of the scene loader."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.mujoco

mujoco = pytest.importorskip("mujoco")

from sensorimotor.core.errors import UserError  # noqa: E402
from sensorimotor.sim import scenes  # noqa: E402


def test_shipped_scenes_and_robots_are_listed() -> None:
    assert {"test_scene", "bimanual_bricks"} <= set(scenes.available_scenes())
    assert "tabletop_arm" in scenes.available_robots()


def test_load_scene_by_name_and_by_path() -> None:
    model, data = scenes.load_scene("test_scene")
    assert isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData)
    assert "overhead" in scenes.camera_names(model)
    path = scenes.resolve_scene_path("test_scene")
    assert path == scenes.SCENES_DIR / "test_scene.xml"
    model2, _ = scenes.load_scene(path)
    model3, _ = scenes.load_scene(str(path))
    assert model2.nbody == model3.nbody == model.nbody
    # data is ready to use: mj_forward already ran (body positions are set)
    assert data.xpos[model.body("red_box").id][2] > 0.7


def test_missing_scene_lists_the_available_ones() -> None:
    with pytest.raises(scenes.SceneNotFoundError, match="test_scene") as info:
        scenes.load_scene("no_such_scene")
    assert "unknown scene 'no_such_scene'" in str(info.value)
    assert isinstance(info.value, UserError)
    with pytest.raises(scenes.SceneNotFoundError, match="does not exist"):
        scenes.load_scene("missing/dir/scene.xml")


def test_resolve_robot_path() -> None:
    path = scenes.resolve_robot_path("tabletop_arm")
    assert path.name == "tabletop_arm.xml" and path.is_file()
    with pytest.raises(scenes.SceneNotFoundError, match="tabletop_arm"):
        scenes.resolve_robot_path("nope_arm")


def test_compile_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<mujoco><worldbody><geom type="box"/></worldbody></mujoco>')
    with pytest.raises(scenes.SceneLoadError, match="bad.xml") as info:
        scenes.load_scene(bad)
    assert "could not compile" in str(info.value)


def test_initial_state_uses_keyframe_zero(tmp_path: Path) -> None:
    path = tmp_path / "key.xml"
    path.write_text(
        """<mujoco><worldbody><body><joint name="j" type="slide" axis="1 0 0"/>
        <geom size="0.1"/></body></worldbody><keyframe><key qpos="0.3"/></keyframe></mujoco>"""
    )
    model, data = scenes.load_scene(path)
    assert data.qpos[0] == pytest.approx(0.3)
    data.qpos[0] = 1.0
    scenes.reset_data(model, data)
    assert data.qpos[0] == pytest.approx(0.3)
