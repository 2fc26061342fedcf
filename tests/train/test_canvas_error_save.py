"""An error right after a resume never re-saves the restored state over the checkpoints."""

import pytest

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.config import load_saved_config
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
