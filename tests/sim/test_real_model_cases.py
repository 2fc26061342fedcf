"""``sim validate`` / ``sim lint`` on the cases real third-party robot models raise: no camera,
include-only fragments, armature-heavy arms, flat-colour views, duplicate file stems, absurd sizes.
The models are in tests/sim/fixtures/models/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.mujoco
pytest.importorskip("mujoco")

from sensorimotor.cli import main  # noqa: E402
from sensorimotor.sim.checks import ValidationConfig, frame_is_blank, validate_scene  # noqa: E402
from sensorimotor.sim.lint import lint_paths  # noqa: E402

MODELS = Path(__file__).parent / "fixtures" / "models"
LINT = Path(__file__).parent / "fixtures" / "lint"
FAST = dict(seconds=0.3, width=64, height=48, frame_period=0.1)


@pytest.mark.usefixtures("gl")
def test_a_scene_without_a_camera_renders_from_a_framed_free_camera(tmp_path, capsys):
    report = validate_scene(MODELS / "no_camera.xml", ValidationConfig(**FAST))
    assert report.passed, [c.message for c in report.checks if not c.passed]
    assert "free camera framed on the model" in report.check("render").message
    frame = report.frames[-1]
    assert not frame_is_blank(frame)  # the pendulum is in view
    out = tmp_path / "runs"
    assert main(["sim", "render", str(MODELS / "no_camera.xml"), "--seconds", "0.2",
                 "--width", "64", "--height", "48", "--root", str(out), "--name", "r"]) == 0  # fmt: skip
    assert "no named camera" in capsys.readouterr().out
    assert len(list((out / "r" / "frames").glob("*.png"))) > 0


def test_kinetic_energy_limit_counts_armature():
    report = validate_scene(MODELS / "armature_arm.xml", ValidationConfig(**FAST, render=False))
    energy = report.check("energy")
    parts = report.stats["kinetic_energy_limit_parts_j"]
    assert energy.passed, energy.message
    # The links alone (0.08 kg at 5 m/s: 1 J) would not cover what MuJoCo counts.
    assert energy.value > parts["translation_j"] and parts["armature_j"] > energy.value
    assert "with armature" in energy.message and "armature" in energy.message


@pytest.mark.usefixtures("gl")
def test_a_flat_colour_view_is_blank():
    report = validate_scene(MODELS / "flat_colour.xml", ValidationConfig(**FAST))
    frame = report.frames[0]
    assert frame.reshape(-1).std() > 10  # channels differ: a mixed-channel check passes it
    assert not report.check("render").passed
    assert "one flat colour" in report.check("render").message


@pytest.mark.usefixtures("gl")
def test_validate_keeps_results_of_files_with_the_same_stem(tmp_path, capsys):
    scenes = [str(MODELS / "a" / "scene.xml"), str(MODELS / "b" / "scene.xml")]
    args = ["sim", "validate", *scenes, "--seconds", "0.2", "--width", "48", "--height", "32"]
    assert main([*args, "--root", str(tmp_path), "--name", "v", "--json"]) == 0
    summaries = [json.loads((tmp_path / "v" / d / "summary.json").read_text()) for d in
                 ("scene", "scene-2")]  # fmt: skip
    assert sorted(s["path"] for s in summaries) == sorted(str(Path(p).resolve()) for p in scenes)


@pytest.mark.usefixtures("gl")
def test_validate_renders_without_shadows_unless_asked(monkeypatch):
    from sensorimotor.sim.render import Renderer

    seen = []
    render = Renderer.render

    def spy(self, data, camera, *args, **kwargs):
        seen.append((kwargs.get("shadows"), kwargs.get("reflections")))
        return render(self, data, camera, *args, **kwargs)

    monkeypatch.setattr(Renderer, "render", spy)
    validate_scene(MODELS / "a" / "scene.xml", ValidationConfig(**FAST))
    assert set(seen) == {(False, False)}
    seen.clear()
    validate_scene(MODELS / "a" / "scene.xml", ValidationConfig(**FAST, shadows=True))
    assert set(seen) == {(True, False)}


def test_fragments_are_linted_in_the_context_that_includes_them(capsys):
    folder = MODELS / "fragments"
    assert lint_paths([folder]).ok
    for fragment in ("keyframe.xml", "actuators.xml"):  # given on their own, they borrow scene.xml
        result = lint_paths([folder / fragment])
        assert result.ok, [f.format() for f in result.findings]
        assert str((folder / "scene.xml").resolve()) in result.files
    assert main(["sim", "lint", str(folder / "keyframe.xml")]) == 0


def test_a_physically_absurd_mesh_size_is_an_error():
    codes = {(f.severity, f.code) for f in lint_paths([LINT / "bad_scale.xml"]).findings}
    assert ("error", "mesh-size") in codes  # a 1 m cube scaled 1000x: 1 km across
    assert main(["sim", "lint", str(LINT / "bad_scale.xml")]) == 1
    big = {(f.severity, f.code) for f in lint_paths([LINT / "big_mesh.xml"]).findings}
    assert big == {("warning", "mesh-size")}  # 30 m: odd, but possible
