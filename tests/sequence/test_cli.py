"""The clips/sequence commands: listing, inspecting, clear one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorimotor.cli import main


def test_presets_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sequence", "presets"]) == 0
    out = capsys.readouterr().out.split()
    assert {"s5_sa", "s5_si", "s5_sic", "s5_ssi", "mamba_sa", "gru_sa", "mlp_sa"} <= set(out)


@pytest.mark.mujoco
def test_clips_info(tiny_clips: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clips", "info", str(tiny_clips)]) == 0
    out = capsys.readouterr().out
    assert "6 clips" in out and "(40, 373)" in out and "qpos_local" in out


def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sequence", "train", "model=nope"]) == 2
    assert "unknown model preset 'nope'" in capsys.readouterr().err
    assert main(["clips", "info", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sequence", "evaluate", str(tmp_path)]) == 2
    assert "no intact checkpoint" in capsys.readouterr().err
    assert main(["clips", "make", "nope=1"]) == 2
    assert "nope" in capsys.readouterr().err
