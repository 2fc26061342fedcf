"""Tests of ``sensorimotor sim`` (list, validate, render, view)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.mujoco

pytest.importorskip("mujoco")

from sensorimotor.cli import main  # noqa: E402


def test_sim_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "overhead" in rows["test_scene"]["cameras"]
    assert rows["tabletop_arm"]["kind"] == "robot"


@pytest.mark.smoke
@pytest.mark.usefixtures("gl")
def test_sim_validate_writes_a_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sim", "validate", "test_scene", "--seconds", "0.2", "--width", "48", "--height", "32",
         "--root", str(tmp_path), "--name", "v", "--json"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"] is True
    run = tmp_path / "v"
    assert (run / "config.yaml").is_file() and (run / "env.json").is_file()
    assert (run / "video.mp4").stat().st_size > 0 and list((run / "frames").glob("*.png"))
    summary = json.loads((run / "summary.json").read_text())
    assert {c["name"] for c in summary["checks"]} >= {"determinism", "penetration", "render"}


def test_sim_validate_failure_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = tmp_path / "sunk.xml"
    scene.write_text(
        '<mujoco><worldbody><geom name="floor" type="plane" size="1 1 0.1"/><body><freejoint/>'
        '<geom type="box" size="0.2 0.2 0.2" mass="1000"/></body></worldbody></mujoco>'
    )
    code = main(
        [
            "sim",
            "validate",
            str(scene),
            "--seconds",
            "0.1",
            "--no-render",
            "--root",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 1 and "FAIL penetration" in capsys.readouterr().out
    assert main(["sim", "validate", "nope"]) == 2
    assert "unknown scene 'nope'" in capsys.readouterr().err


@pytest.mark.usefixtures("gl")
def test_sim_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["sim", "render", "test_scene", "--camera", "front", "--seconds", "0.2", "--fps", "20",
         "--width", "48", "--height", "32", "--depth", "--random-controls", "--root", str(tmp_path), "--name", "r"]
    )  # fmt: skip
    assert code == 0
    assert len(list((tmp_path / "r" / "frames").glob("*.png"))) == 5
    assert (tmp_path / "r" / "video.mp4").is_file()
    assert main(["sim", "render", "test_scene", "--camera", "nope", "--root", str(tmp_path)]) == 2
    assert "unknown camera 'nope'" in capsys.readouterr().err


def test_sim_view_without_display(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main(["sim", "view", "test_scene"]) == 2
    assert "needs a display" in capsys.readouterr().err


def test_viewer_module_is_not_imported_by_the_rest() -> None:
    code = (
        "import sys\n"
        "import sensorimotor.sim.viewer, sensorimotor.sim.render, sensorimotor.robots.mujoco\n"
        "import sensorimotor.sim.checks, sensorimotor.sim.lint, sensorimotor.cli.sim\n"
        "print('mujoco.viewer' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
