"""Linter tests on broken fixtures (tests/sim/fixtures/lint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.mujoco

pytest.importorskip("mujoco")

from sensorimotor.cli import main  # noqa: E402
from sensorimotor.sim.lint import lint_file, lint_paths  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "lint"


def codes(name: str) -> set[tuple[str, str]]:
    return {(f.severity, f.code) for f in lint_file(FIXTURES / name)}


@pytest.mark.parametrize(
    "name", ["meshdir_ok.xml", "assetdir_ok.xml", "mm_scale_ok.xml", "include_ok.xml"]
)
def test_clean_fixtures(name: str) -> None:
    assert lint_file(FIXTURES / name) == []


def test_absolute_paths_are_errors() -> None:
    found = lint_file(FIXTURES / "abs_path.xml")
    assert ("error", "absolute-path") in {(f.severity, f.code) for f in found}
    assert any(f.line == 6 and "/opt/meshes/cube_m.obj" in f.message for f in found)
    assert ("error", "absolute-path") in codes("abs_meshdir.xml")


def test_missing_files_are_errors() -> None:
    found = lint_file(FIXTURES / "missing_mesh.xml")
    missing = [f for f in found if f.code == "missing-file"]
    assert missing and "meshes/nope.obj" in missing[0].message and missing[0].line == 6
    assert ("error", "compile-error") in {(f.severity, f.code) for f in found}
    assert ("error", "missing-file") in codes("missing_texture.xml")
    assert ("error", "missing-file") in codes("include_missing.xml")


def test_meshdir_is_respected() -> None:
    # The same mesh file is found with meshdir="parts" and missing without it.
    assert lint_file(FIXTURES / "meshdir_ok.xml") == []
    wrong = lint_file(FIXTURES / "meshdir_wrong.xml")
    assert any(f.code == "missing-file" and "no <compiler meshdir>" in f.message for f in wrong)


def test_mesh_scale_warnings() -> None:
    assert codes("bad_scale.xml") == {("warning", "mesh-scale"), ("error", "mesh-size")}
    assert ("warning", "mesh-scale") in codes("mixed_scale.xml")
    # A millimetre mesh without its 0.001 scale is caught by its compiled size.
    assert codes("mm_no_scale.xml") == {("error", "mesh-size")}  # 100 m across
    # 0.001 is the normal mm -> m scale, not suspicious.
    assert codes("mm_scale_ok.xml") == set()


def test_malformed_xml() -> None:
    found = lint_file(FIXTURES / "broken.xml")
    assert [(f.code, f.line) for f in found] == [("xml-error", 6)]


def test_folder_lint_skips_include_fragments_and_counts() -> None:
    result = lint_paths([FIXTURES])
    assert not result.ok
    paths = {Path(f.path).name for f in result.findings}
    assert "assets.xml" not in paths  # the fragment is checked through include_ok.xml only
    assert len(result.errors) >= 12 and len(result.warnings) >= 3
    data = result.to_dict()
    assert data["errors"] == len(result.errors) and len(data["findings"]) == len(result.findings)


def test_cli_lint_exit_codes_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "lint"]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    assert main(["sim", "lint", str(FIXTURES / "big_mesh.xml")]) == 0
    assert main(["sim", "lint", "--strict", str(FIXTURES / "big_mesh.xml")]) == 1
    capsys.readouterr()
    assert main(["sim", "lint", "--json", str(FIXTURES / "abs_path.xml")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] >= 1
    assert {"path", "severity", "code", "message", "line"} <= set(report["findings"][0])
