"""Resuming a canvas run: an error right after a resume never re-saves the restored state over
the checkpoints, and metrics logged after the restored checkpoint are not repeated."""

import json
import shutil

import pytest

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.config import load_saved_config
from sensorimotor.core.tracking import read_metrics
from sensorimotor.robots.session import SessionReader
from sensorimotor.train.canvas import CanvasRunConfig, load_run_config, run_canvas
from sensorimotor.worldmodels.model import CanvasWorldModel

TINY = [
    "model=canvas_tiny",
    "trainer=debug",
    "robot.width=16",
    "robot.height=16",
    "robot.dot_radius=2",
    "robot.move_pixels=5",
    "validation.steps=0",
    "progress=false",
]


def test_an_error_before_any_new_step_keeps_the_checkpoints(tmp_path, monkeypatch, capsys):
    run = run_canvas(load_run_config([*TINY, f"runs_root={tmp_path}", "steps=7", "name=r"]))
    checkpoints = CheckpointManager(run.run_dir / "checkpoints")
    before = {c.step: (c.path / "metadata.json").read_text() for c in checkpoints.checkpoints()}
    assert sorted(before) == [5, 7]

    def broken_step(self, robot, selector):
        raise RuntimeError("the robot fell over")

    monkeypatch.setattr(CanvasWorldModel, "step", broken_step)
    config = load_saved_config(run.run_dir / "config.yaml", CanvasRunConfig)
    config.steps = 20
    with pytest.raises(RuntimeError, match="fell over"):
        run_canvas(config, resume=run.run_dir)
    after = {c.step: (c.path / "metadata.json").read_text() for c in checkpoints.checkpoints()}
    assert after == before  # nothing re-saved from the restored state
    assert "the newest checkpoint is kept" in capsys.readouterr().err


def test_metrics_do_not_repeat_after_resuming_from_an_older_checkpoint(tmp_path):
    run = run_canvas(load_run_config([*TINY, f"runs_root={tmp_path}", "steps=9", "name=m"]))
    # A kill -9 after iteration 8 was logged but before the final checkpoint: only step 5 is left.
    for info in CheckpointManager(run.run_dir / "checkpoints").checkpoints():
        if info.step > 5:
            shutil.rmtree(info.path)
    config = load_saved_config(run.run_dir / "config.yaml", CanvasRunConfig)
    config.steps = 12
    run_canvas(config, resume=run.run_dir)
    steps = [r["step"] for r in read_metrics(run.run_dir) if "loss" in r or "pred_error" in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), steps
    assert steps[-1] == 12


def test_resume_records_a_new_validation_session_when_the_old_one_was_cut(tmp_path, capsys):
    config = load_run_config(
        [*TINY, f"runs_root={tmp_path}", "steps=5", "name=v", "validation.steps=24"]
    )
    run = run_canvas(config).run_dir
    folder = run / "sessions" / "toroidal_dot"
    steps = (folder / "validation" / "steps.jsonl").read_text().splitlines(keepends=True)
    (folder / "validation" / "steps.jsonl").write_text("".join(steps[:10]))  # killed mid-way
    meta = json.loads((folder / "validation" / "metadata.json").read_text())
    del meta["end_time"], meta["steps"]
    (folder / "validation" / "metadata.json").write_text(json.dumps(meta))
    config = load_saved_config(run / "config.yaml", CanvasRunConfig)
    config.steps = 7
    run_canvas(config, resume=run)
    assert "validation session" in capsys.readouterr().err
    assert len(SessionReader(folder / "validation-2")) == 25
    assert len(SessionReader(folder / "validation")) == 10  # kept
