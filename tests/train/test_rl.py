"""The RL training driver and the ``sensorimotor rl`` commands, end to end on tiny configs."""

import json

import numpy as np
import pytest
import yaml

from sensorimotor.cli import main
from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import read_metrics
from sensorimotor.train.rl import load_rl_config, train

TINY_SAC = [
    "algo=sac",
    "task=pendulum",
    "algo.agent.policy.hidden=[32,32]",
    "algo.agent.critic.hidden=[32,32]",
    "batch_size=32",
    "seed_steps=100",
    "eval_every=150",
    "eval_episodes=2",
    "log_every=50",
    "checkpoint_every=150",
    "progress=false",
]


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = load_rl_config([*TINY_SAC, "steps=300", f"run_root={root}", "name=sac"])
    result = train(cfg)
    assert result.stopped_by == "completed" and result.steps == 300
    assert result.counters == {"env_steps": 300, "updates": 200, "episodes": 1}
    return RunDir(result.run_dir)


def test_online_run_logs_evaluates_checkpoints_and_reports(sac_run):
    records = read_metrics(sac_run.metrics_path)
    keys = set().union(*records)
    assert {"training/critic/loss", "training/actor/loss", "training/episode_return"} <= keys
    evals = [r for r in records if "evaluation/return_mean" in r]
    assert [r["step"] for r in evals] == [0, 150, 300]
    assert all(np.isfinite(r["evaluation/return_mean"]) for r in evals)
    assert not any(
        k.startswith(("training/", "evaluation/")) is False and k not in ("step", "time")
        for k in keys
    )
    ckpts = CheckpointManager(sac_run.checkpoints_dir).checkpoints()
    assert [c.step for c in ckpts] == [150, 300]
    assert ckpts[-1].metadata["run_state"]["env_steps"] == 300
    assert ckpts[-1].metadata["run_state"]["updates"] == 200
    assert (sac_run.path / "replay.npz").is_file()
    html = sac_run.report_path.read_text()
    assert "Learning curves" in html and "data:image/png;base64" in html
    assert (sac_run.path / "env.json").is_file()


def test_resume_continues_from_the_latest_checkpoint(sac_run, tmp_path):
    import shutil

    run_copy = tmp_path / "sac"
    shutil.copytree(sac_run.path, run_copy)
    cfg = yaml.safe_load((run_copy / "config.yaml").read_text())
    cfg["steps"] = 400
    (run_copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    train(None, resume=run_copy)
    ckpt = CheckpointManager(run_copy / "checkpoints").latest()
    assert ckpt.step == 400
    assert ckpt.metadata["run_state"]["env_steps"] == 400
    assert ckpt.metadata["run_state"]["updates"] == 300
    evals = [
        r["step"] for r in read_metrics(run_copy / "metrics.jsonl") if "evaluation/return_mean" in r
    ]
    assert evals == [0, 150, 300, 400]  # the resumed part appends to the same metrics file


def test_offline_bc_on_generated_demos_reports_modes(tmp_path):
    cfg = load_rl_config(
        [
            "algo=bc",
            "task=multimodal_reach",
            "algo.agent.policy_type=gaussian",
            "algo.agent.policy.hidden=[32,32]",
            "data.demos_episodes=200",
            "steps=60",
            "batch_size=32",
            "eval_every=60",
            "eval_episodes=4",
            "mode_samples=200",
            "log_every=30",
            "checkpoint_every=60",
            "progress=false",
            f"run_root={tmp_path}",
        ]
    )
    assert cfg.mode == "offline"
    run = RunDir(train(cfg).run_dir)
    last = [r for r in read_metrics(run.metrics_path) if "evaluation/mode_0" in r][-1]
    total = sum(last[f"evaluation/mode_{k}"] for k in (0, 1, 2, 3, "none"))
    assert total == pytest.approx(1.0)
    assert 0.0 <= last["evaluation/best_mode_fraction"] <= 1.0
    records = read_metrics(run.metrics_path)
    assert [r["step"] for r in records if "evaluation/return_mean" in r] == [0, 60]
    assert any("training/policy/loss" in r for r in records)


def test_tdmpc2_online_run_plans_and_learns_from_windows(tmp_path, rl_configs):
    # The agent tests' tiny TD-MPC2 on a Pendulum spec: their compiled update and planner are reused.
    tiny = rl_configs["tdmpc2"]
    overrides = [f"algo.agent.{k}={'null' if v is None else v}" for k, v in tiny.items()]
    cfg = load_rl_config(
        [
            "algo=tdmpc2",
            "task=pendulum",
            *overrides,
            "steps=60",
            "seed_steps=20",
            "pretrain_updates=5",
            "batch_size=32",
            "eval_every=60",
            "eval_episodes=4",
            "log_every=30",
            "checkpoint_every=60",
            "progress=false",
            f"run_root={tmp_path}",
        ]
    )
    run = RunDir(train(cfg).run_dir)
    records = read_metrics(run.metrics_path)
    upd = [r for r in records if "training/consistency_loss" in r]
    assert upd and upd[-1]["training/updates"] == 5 + 40
    assert [r["step"] for r in records if "evaluation/return_mean" in r] == [0, 60]


def test_cli_train_eval_and_demos(sac_run, tmp_path, capsys):
    bc = ["algo=bc", "task=multimodal_reach", "algo.agent.policy_type=gaussian",
          "algo.agent.policy.hidden=[32,32]", "data.demos_episodes=200", "steps=60",
          "batch_size=32", "eval_every=60", "eval_episodes=4", "mode_samples=200",
          "log_every=30", "checkpoint_every=60", "progress=false"]  # fmt: skip
    assert main(["rl", "train", *bc, f"run_root={tmp_path}", "name=cli"]) == 0
    out = capsys.readouterr().out
    assert "final evaluation at step 60" in out and f"run: {tmp_path / 'cli'}" in out
    assert main(["rl", "eval", str(sac_run.path), "--episodes", "2"]) == 0
    captured = capsys.readouterr()
    assert "evaluate pendulum" in captured.err and "episodes_done=" in captured.err
    out = json.loads(captured.out)
    assert np.isfinite(out["return_mean"]) and out["episode_length"] == 200
    path = tmp_path / "demos.h5"
    assert main(["rl", "demos", "multimodal_reach", "--episodes", "50", "--out", str(path)]) == 0
    assert path.is_file() and "50 steps" in capsys.readouterr().out


def test_cli_reports_bad_config_in_one_line(capsys):
    assert main(["rl", "train", "algo=sac", "stepz=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown config key stepz") and "\n" not in err
    assert main(["rl", "train", "algo=dqn"]) == 2
    assert "unknown algo option 'dqn'" in capsys.readouterr().err
    assert main(["rl", "train", "algo=sac", "algo.agent.gama=0.9", "steps=1"]) == 2
    assert "unknown SACConfig key 'gama'" in capsys.readouterr().err
    assert main(["rl", "train", "algo=bc", "task=pendulum"]) == 2
    assert "needs data" in capsys.readouterr().err


def test_divergence_is_reported_with_the_update_step(tmp_path):
    from sensorimotor.core.numerics import NonFiniteError

    cfg = load_rl_config(
        [
            "algo=bc",
            "task=multimodal_reach",
            "algo.agent.policy_type=gaussian",
            "algo.agent.policy.hidden=[32,32]",
            "algo.agent.policy.lr=1e30",
            "data.demos_episodes=200",
            "steps=60",
            "batch_size=32",
            "eval_every=60",
            "log_every=30",
            "checkpoint_every=60",
            "progress=false",
            f"run_root={tmp_path}",
        ]
    )
    with pytest.raises(NonFiniteError, match=r"non-finite values in update metrics at step \d+"):
        train(cfg)


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(tmp_path):
    """The first Ctrl-C stops the run after the current step and checkpoints that step."""
    import os
    import signal
    import threading
    import time

    cfg = load_rl_config(
        [*TINY_SAC, "steps=3000", "checkpoint_every=0", f"run_root={tmp_path}", "name=stop"]
    )
    metrics = tmp_path / "stop" / "metrics.jsonl"

    def interrupt_after_the_first_log():
        deadline = time.time() + 300
        while time.time() < deadline and not (metrics.is_file() and metrics.stat().st_size):
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_after_the_first_log, daemon=True).start()
    result = train(cfg)
    assert result.stopped_by == "ctrl-c" and 0 < result.steps < 3000
    ckpt = CheckpointManager(result.run_dir / "checkpoints").latest()
    assert ckpt.step == result.steps == ckpt.metadata["run_state"]["env_steps"]
    assert (result.run_dir / "replay.npz").is_file()
