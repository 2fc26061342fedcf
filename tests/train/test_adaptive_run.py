"""``sensorimotor run model=adaptive`` end to end on a tiny toroidal dot: run directory, metrics,
report, exact resume and the rolling checkpoint backup."""

import os
import signal

import numpy as np
import pytest

from sensorimotor.cli import main
from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.config import load_saved_config
from sensorimotor.core.tracking import read_metrics
from sensorimotor.train.adaptive import load_any_run_config, run_adaptive
from sensorimotor.train.canvas import CanvasRunConfig

TINY = [
    "model=adaptive_tiny",
    "trainer=debug",
    "robot.width=16",
    "robot.height=16",
    "robot.dot_radius=2",
    "robot.move_pixels=5",
    "model.reconstruction_threshold=0.5",
    "progress=false",
    "record=false",
]


def interrupt_at(iteration):
    def callback(info, model):
        if info.iteration == iteration:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    return callback


def checkpoint(run_dir):
    state, meta = CheckpointManager(run_dir / "checkpoints").restore()
    return state, meta


def flat(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from flat(v, f"{prefix}/{k}")
    else:
        yield prefix, np.asarray(tree)


def test_resume_from_the_backup_of_a_damaged_checkpoint_is_exact(tmp_path):
    args = [
        *TINY,
        f"runs_root={tmp_path}",
        "validation.steps=0",
        "trainer.checkpoint_every=3",
        "model.reconstruction_threshold=1e9",  # always acting (gating: tests/worldmodels)
    ]
    straight = run_adaptive(load_any_run_config([*args, "steps=9", "name=straight"]))
    stopped = run_adaptive(
        load_any_run_config([*args, "steps=9", "name=stopped"]), callback=interrupt_at(7)
    )
    assert stopped.stopped_by == "interrupt" and stopped.steps == 7
    manager = CheckpointManager(stopped.run_dir / "checkpoints")
    assert [c.step for c in manager.checkpoints()] == [6, 7]
    # Damage the newest: resuming falls back to the previous one (the rolling backup).
    newest = manager.latest().path / "state"
    victim = max((p for p in newest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.write_bytes(b"\0" * victim.stat().st_size)
    config = load_saved_config(stopped.run_dir / "config.yaml", CanvasRunConfig)
    with pytest.warns(UserWarning, match="could not be restored"):
        resumed = run_adaptive(config, resume=stopped.run_dir)
    assert resumed.steps == 9
    a, meta_a = checkpoint(straight.run_dir)
    b, meta_b = checkpoint(stopped.run_dir)
    assert meta_a["robot_steps"] == meta_b["robot_steps"] > 0
    fa, fb = dict(flat(a)), dict(flat(b))
    assert fa.keys() == fb.keys()
    for name in fa:
        np.testing.assert_array_equal(fa[name], fb[name], err_msg=name)


def test_cli_run_writes_metrics_quality_and_report(tmp_path):
    code = main(
        [
            "run",
            *TINY,
            f"runs_root={tmp_path}",
            "name=r",
            "steps=10",
            "validation.steps=24",
            "validation.max_canvases=12",
            "model.reconstruction_threshold=1e9",
        ]
    )
    assert code == 0
    run = tmp_path / "r"
    for name in ("config.yaml", "env.json", "metrics.jsonl", "report.html", "summary.json"):
        assert (run / name).is_file(), name
    records = read_metrics(run)
    keys = set().union(*records)
    for key in (
        "recon_error",
        "level1/patch_loss",
        "level1/latent_loss",
        "level1/action_loss",
        "level1/r2_vs_copy",
        "level1/grad_norm_median/action",
        "level1/update_ratio_p95/predictor",
        "level1/action_grad_fraction",
        "action_sensitivity",
        "uncertainty",
        "val/shuffle_ratio",
        "val/zero_ratio",
        "val/position_error_px",
        "val/counterfactual_accuracy",
        "val/attention/layer0/apa",
        "val/attention/layer0/ri16",
    ):
        assert key in keys, key
    assert "attention (query tokens)" in (run / "report.html").read_text()


def test_a_bad_model_key_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", *TINY, f"runs_root={tmp_path}", "model.film_block_ids=[5]"]) == 2
    err = capsys.readouterr().err
    assert "film_block_ids" in err and "Traceback" not in err
