"""Checks of the shipped assets: they lint clean and behave physically as documented."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.mujoco, pytest.mark.assets]

mujoco = pytest.importorskip("mujoco")

from sensorimotor.sim.lint import lint_paths  # noqa: E402
from sensorimotor.sim.scenes import (  # noqa: E402
    ASSETS_DIR,
    actuator_names,
    camera_names,
    load_scene,
)


def test_shipped_assets_lint_clean() -> None:
    result = lint_paths()
    assert len(result.files) >= 3
    assert result.findings == [], "\n".join(f.format() for f in result.findings)


def test_asset_files_are_referenced_relatively() -> None:
    for path in ASSETS_DIR.rglob("*.xml"):
        text = path.read_text()
        assert "/work/" not in text and "site-packages" not in text, path


def test_test_scene_contents() -> None:
    model, _ = load_scene("test_scene")
    assert {"overhead", "front"} <= set(camera_names(model))
    assert actuator_names(model) == ["pusher_x", "pusher_y"]
    free = [j for j in range(model.njnt) if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
    assert len(free) >= 3
    assert model.nmesh >= 1  # the hex nut mesh, through <compiler meshdir>
    assert model.ntex >= 1


def test_bimanual_scene_contents() -> None:
    model, data = load_scene("bimanual_bricks")
    assert {"overhead", "front", "left/wrist_cam", "right/wrist_cam"} <= set(camera_names(model))
    names = actuator_names(model)
    for side in ("left", "right"):
        assert f"{side}/gripper" in names and f"{side}/shoulder_pan" in names
    bricks = [
        model.body(i).name for i in range(model.nbody) if model.body(i).name.startswith("brick_")
    ]
    assert len(bricks) == 6
    red = model.body("brick_red").id
    studs = [
        g
        for g in range(model.ngeom)
        if model.geom_bodyid[g] == red and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CYLINDER
    ]
    assert len(studs) == 8 + 3  # eight studs and three tubes
    # The arms face each other across the table.
    left = data.xpos[model.body("left/base").id]
    right = data.xpos[model.body("right/base").id]
    assert left[0] < -0.3 and right[0] > 0.3 and abs(left[1] - right[1]) < 1e-9


def test_arm_holds_its_ready_pose_and_gripper_opens() -> None:
    model, data = load_scene("bimanual_bricks")
    grip = model.site("left/grip_site").id
    start = data.site_xpos[grip].copy()
    mujoco.mj_step(model, data, nstep=500)  # 1 s with zero targets
    assert np.linalg.norm(data.site_xpos[grip] - start) < 2e-3
    data.ctrl[actuator_names(model).index("left/gripper")] = 0.03
    mujoco.mj_step(model, data, nstep=250)
    left = data.qpos[model.joint("left/finger_left").qposadr[0]]
    right = data.qpos[model.joint("left/finger_right").qposadr[0]]
    assert left > 0.025 and abs(left - right) < 2e-3


def test_stacked_bricks_interlock() -> None:
    """A push that slides a loose brick does not slide the brick stacked on studs."""
    model, data = load_scene("bimanual_bricks")
    mujoco.mj_step(model, data, nstep=100)
    top, bottom, loose = (model.body(f"brick_{c}").id for c in ("blue", "red", "yellow"))
    offset = data.xpos[top] - data.xpos[bottom]
    loose_start = data.xpos[loose].copy()
    for _ in range(250):
        data.xfrc_applied[top, :3] = [0.3, 0, 0]
        data.xfrc_applied[loose, :3] = [0.3, 0, 0]
        mujoco.mj_step(model, data)
    assert np.linalg.norm(data.xpos[loose] - loose_start) > 0.05  # the loose brick slid
    assert np.linalg.norm(data.xpos[top] - data.xpos[bottom] - offset) < 2e-3  # the stack held
