"""``sensorimotor sequence sweep``: the sweep piece on the sequence trainer, end to end on tiny clips."""

import json
import math
from pathlib import Path

import pytest

from sensorimotor.cli import main
from sensorimotor.train.sweep.sequence import split_overrides, val_loss

pytestmark = pytest.mark.mujoco


@pytest.mark.slow
def test_sequence_sweep_end_to_end_and_resume(tiny_clips, tmp_path, capsys):
    args = [
        "sequence",
        "sweep",
        "trainer=debug",
        "data=tiny",
        f"data.path={tiny_clips}",
        f"runs_root={tmp_path}",
        "run_name=sw",
        "model.d_model=16",
        "model.n_layers=1",
        "model.d_state=8",
        "sweep.phase_a_trials=2",
        "sweep.phase_a_steps=4",
        "sweep.phase_b_top=1",
        "sweep.phase_b_seeds=2",
        "sweep.phase_b_steps=4",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "best lr" in out and "sweep folder" in out
    result = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert result["source"] == "phase_b" and len(result["phase_a"]) == 2
    assert len(result["phase_b"]) == 2 and Path(result["checkpoint"], "config.yaml").is_file()
    assert (tmp_path / "sw" / "report.html").is_file()
    assert main(args) == 0  # the finished study again: nothing new runs
    again = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert again["lr"] == result["lr"] and len(again["phase_a"]) == 2
    assert main([*args[:-1], "sweep.bogus=1"]) == 2


def test_overrides_and_loss():
    assert split_overrides(["sweep.workers=2", "model=s5_sa"]) == (["workers=2"], ["model=s5_sa"])
    assert val_loss({"action/r2": 0.8, "intention/r2": 0.6}) == pytest.approx(0.3)
    assert math.isnan(val_loss({"action/r2": float("nan")}))
