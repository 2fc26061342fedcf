"""``vla train`` / ``vla eval`` end to end on the tiny demos: a run, exact resume, evaluation,
clear errors for bad settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sensorimotor.cli import main
from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.tracking import read_metrics
from sensorimotor.train.vla import train
from sensorimotor.train.vla_config import load_vla_config

from .conftest import tiny_overrides

pytestmark = pytest.mark.mujoco


@pytest.fixture(scope="module")
def tiny_run(tiny_demos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("vla_runs")
    result = train(load_vla_config(tiny_overrides(tiny_demos, runs, run_name="tiny")))
    assert result.stopped_by == "completed" and result.steps == 6
    return result.run_dir


def _params(run: Path, step: int) -> dict:
    tree, _ = CheckpointManager(run / "checkpoints").restore(step=step)
    return tree["params"]


def _leaves(tree: dict) -> list[np.ndarray]:
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_run_logs_throughput_and_validation(tiny_run: Path) -> None:
    metrics = read_metrics(tiny_run / "metrics.jsonl")
    keys = set().union(*metrics)
    assert {"loss", "grad_norm", "samples_per_s", "tokens_per_s", "val_loss", "n_params"} <= keys
    assert all(np.isfinite(m["loss"]) for m in metrics if "loss" in m)


def test_resume_is_exact(tiny_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "resumed"
    shutil.copytree(tiny_run, copy)
    shutil.rmtree(copy / "checkpoints" / "step_00000006")  # as if stopped after step 3
    result = train(None, resume=copy)
    assert result.steps == 6
    for a, b in zip(_leaves(_params(tiny_run, 6)), _leaves(_params(copy, 6)), strict=True):
        np.testing.assert_array_equal(a, b)
    steps = [m["step"] for m in read_metrics(copy / "metrics.jsonl") if "loss" in m]
    assert steps == sorted(set(steps)), "a resumed run must not log a step twice"


def test_grad_accumulation_and_mse_head_train(tiny_demos: Path, tmp_path: Path) -> None:
    cfg = load_vla_config(
        tiny_overrides(
            tiny_demos,
            tmp_path,
            **{"trainer.grad_accum": 2, "model.head": "mse", "trainer.steps": 2},
        )
    )
    result = train(cfg)
    assert np.isfinite(result.metrics["loss"])


def test_eval_writes_summary_video_and_report(tiny_run: Path, capsys) -> None:
    code = main(
        ["vla", "eval", str(tiny_run), "--episodes", "1", "--videos", "1", "--tasks", "push_right"]
        + ["--out", "eval_push"]  # a named folder: evaluations of one run can run side by side
    )
    assert code == 0
    out = tiny_run / "eval_push"
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]) == {"push_right"}
    assert summary["tasks"]["push_right"]["expert_success"] == 1.0
    assert (out / "push_right_0.mp4").stat().st_size > 0
    assert "Closed-loop success" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.path={missing}", "LeRobot dataset folder not found"),
        ("model.cameras=[workspace,front]", "no camera feature(s) ['observation.images.front']"),
        ("model.action_dim=7", "action: expected a last dimension of 7"),
        ("trainer.grad_accum=3", "trainer.batch_size 8 must be a multiple of trainer.grad_accum 3"),
        ("model.head=diffusion", "expected one of ['flow', 'mse']"),
    ],
)
def test_bad_settings_exit_2(
    tiny_demos: Path, tmp_path: Path, capsys, override: str, message: str
) -> None:
    args = tiny_overrides(tiny_demos, tmp_path) + [override.format(missing=tmp_path / "nope")]
    assert main(["vla", "train", *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("vla-*")), "a failed start must not leave a run directory"


def test_diffusion_bc_baseline_trains_and_acts(tiny_demos: Path) -> None:
    from sensorimotor.train.vla_baseline import (
        ALL_INSTRUCTIONS,
        evaluate_baseline,
        features,
        train_baseline,
    )
    from sensorimotor.vla.data import load_demos
    from sensorimotor.vla.demos import DemoConfig

    episodes = load_demos(tiny_demos, ("workspace", "left_wrist_cam"))
    x = features(episodes[0].images, episodes[0].state, episodes[0].instruction, pool=4)
    assert x.shape == (40, 2 * 4 * 4 * 3 + 12 + len(ALL_INSTRUCTIONS))
    policy = train_baseline(episodes, horizon=4, pool=4, steps=50, batch=16, seed=0)
    cfg = DemoConfig(**json.loads((tiny_demos / "meta" / "vla_demos.json").read_text()))
    results = evaluate_baseline(
        policy, cfg, horizon=4, pool=4, episodes=1, execute=2, seed=0, tasks=["push_right"]
    )
    assert set(results) == {"push_right"} and 0.0 <= results["push_right"]["success"] <= 1.0
