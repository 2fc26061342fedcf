"""Tests of the scene checks behind ``sensorimotor sim validate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.mujoco

pytest.importorskip("mujoco")

from sensorimotor.sim import checks  # noqa: E402
from sensorimotor.sim.checks import ValidationConfig, validate_scene, write_validation  # noqa: E402

FAST = dict(seconds=0.3, width=64, height=48, frame_period=0.05)


def _write(tmp_path: Path, name: str, body: str, extra: str = "") -> Path:
    path = tmp_path / name
    path.write_text(
        f"""<mujoco>{extra}<worldbody><camera name="cam" pos="0 -2 1" xyaxes="1 0 0 0 0.5 1"/>
        <light pos="0 0 3"/><geom name="floor" type="plane" size="2 2 0.1"/>{body}</worldbody></mujoco>"""
    )
    return path


@pytest.mark.usefixtures("gl")
def test_test_scene_passes_and_writes_outputs(tmp_path: Path) -> None:
    config = ValidationConfig(**FAST)
    report = validate_scene("test_scene", config)
    assert report.passed, report.to_dict()
    names = [c.name for c in report.checks]
    assert names == ["load", "finite", "warnings", "determinism", "penetration", "energy", "render"]
    assert report.frames is not None and report.frames.shape[1:] == (48, 64, 3)
    assert report.stats["render_max_pixel_diff"] <= 1
    written = write_validation(report, tmp_path / "out", config, sample_frames=3)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["passed"] is True and summary["config"]["seconds"] == 0.3
    assert Path(written["video"]).stat().st_size > 0
    assert len(list((tmp_path / "out" / "frames").glob("*.png"))) == 3


def test_missing_scene_fails_the_load_check() -> None:
    report = validate_scene("no_such_scene", ValidationConfig(**FAST))
    assert not report.passed and report.checks[0].name == "load"
    assert "available scenes" in report.checks[0].message


def test_deep_initial_penetration_fails(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "sunk.xml",
        '<body pos="0 0 0"><freejoint/><geom type="box" size="0.2 0.2 0.2" mass="1000"/></body>',
    )
    report = validate_scene(path, ValidationConfig(**FAST, render=False))
    assert not report.check("penetration").passed
    assert "floor" in report.check("penetration").message


def test_high_energy_fails(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "fast.xml",
        '<body pos="0 0 1"><freejoint/><geom type="sphere" size="0.05" mass="1"/></body>',
        extra='<option gravity="0 0 0"/>',
    )
    path.write_text(
        path.read_text().replace(
            "</mujoco>", '<keyframe><key qvel="30 0 0 0 0 0"/></keyframe></mujoco>'
        )
    )
    report = validate_scene(path, ValidationConfig(**FAST, render=False))
    energy = report.check("energy")
    assert not energy.passed and energy.value == pytest.approx(450.0, rel=1e-3)
    # ½·m·v² at 5 m/s, plus ½·I·ω² at 20 rad/s for the sphere (I = 2/5·m·r²); no armature
    assert energy.limit == pytest.approx(12.5 + 0.5 * 0.4 * 0.05**2 * 20**2)


def test_instability_trips_warnings_and_nan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MuJoCo logs its warnings to ./MUJOCO_LOG.TXT
    body = '<body><joint type="slide" axis="1 0 0" stiffness="1e7"/><geom type="sphere" size="0.05" mass="0.01" contype="0" conaffinity="0"/></body>'
    key = '<keyframe><key qpos="0.1"/></keyframe></mujoco>'
    path = _write(tmp_path, "stiff.xml", body, extra='<option timestep="0.05" integrator="Euler"/>')
    path.write_text(path.read_text().replace("</mujoco>", key))
    report = validate_scene(path, ValidationConfig(**FAST, render=False))
    assert not report.check("warnings").passed and "BADQACC" in report.check("warnings").message
    # MuJoCo resets an unstable state; with that disabled the NaN stays and is reported.
    noreset = _write(
        tmp_path,
        "stiff2.xml",
        body,
        extra='<option timestep="0.05" integrator="Euler"><flag autoreset="disable"/></option>',
    )
    noreset.write_text(noreset.read_text().replace("</mujoco>", key))
    report = validate_scene(noreset, ValidationConfig(**FAST, render=False))
    assert not report.check("finite").passed and "step" in report.check("finite").message


def test_nondeterminism_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    unseeded = np.random.default_rng()
    monkeypatch.setattr(
        checks,
        "random_controls",
        lambda model, rng: checks.np.asarray(unseeded.uniform(-0.4, 0.4, model.nu)),
    )
    report = validate_scene("test_scene", ValidationConfig(**FAST, render=False))
    assert not report.check("determinism").passed
    assert "diverge at step" in report.check("determinism").message


@pytest.mark.usefixtures("gl")
def test_blank_frames_fail_the_render_check(tmp_path: Path) -> None:
    path = tmp_path / "empty.xml"
    path.write_text(
        '<mujoco><visual><headlight ambient="0 0 0" diffuse="0 0 0"/></visual><worldbody><camera name="cam" pos="0 0 1"/></worldbody></mujoco>'
    )
    report = validate_scene(path, ValidationConfig(**FAST))
    assert not report.check("render").passed and "blank" in report.check("render").message
