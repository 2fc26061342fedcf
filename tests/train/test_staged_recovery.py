"""Staged training under failure: Ctrl-C (SIGINT to a real process) during a sweep, an exception
in a stage, then ``--resume``; and ``--parallel`` chains against serial ones."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest

from sensorimotor.cli import main
from sensorimotor.train.canvas import train_staged
from sensorimotor.train.canvas.staged_report import final_report_name
from sensorimotor.train.sweep.storage import default_storage_url, open_storage
from tests.train.test_staged import TINY, session, staged_config  # noqa: F401 - the fixture


def _wait_for(pattern_root, pattern, proc, timeout=240.0):
    """The first path matching ``pattern`` under ``pattern_root`` (fails if ``proc`` ends first)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = sorted(pattern_root.glob(pattern))
        if found:
            return found[0]
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {pattern} appeared")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{pattern} did not appear within {timeout} s")


def test_sigint_during_a_sweep_in_a_stage_then_resume(tmp_path, session):  # noqa: F811
    runs = tmp_path / "runs"
    # Phase-A trials of 3 s each (the step budget is never reached): the SIGINT lands in one on a
    # fast machine as on a slow one.
    args = [*TINY, f"runs_root={runs}", "name=sig", "max_stages=2"]
    args += ["sweep.phase_a_steps=100000", "sweep.phase_a_seconds=3"]
    command = [sys.executable, "-m", "sensorimotor", "canvas", "staged"]
    proc = subprocess.Popen(
        [*command, "--root-session", str(session), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # The second phase-A trial of stage 1's upfront sweep has started: the first one is complete.
    trial = _wait_for(runs, "*/sweeps/trials/run0-stage1-upfront-A-1", proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out
    assert "interrupted; continue with: sensorimotor canvas staged --resume" in out
    run = trial.parents[2]
    assert "(partial: interrupted)" in (run / final_report_name()).read_text()
    assert not (run / "run0" / "progress.json").is_file()  # no stage finished

    assert main(["canvas", "staged", "--resume", str(run)]) == 0
    progress = json.loads((run / "run0" / "progress.json").read_text())
    assert sorted(progress["stages"]) == ["1", "2"]
    storage = open_storage(default_storage_url(run / "sweeps"))
    trials = optuna.load_study(study_name="run0-stage1-upfront-A", storage=storage).trials
    complete = [t.user_attrs["candidate"] for t in trials if t.state.name == "COMPLETE"]
    assert sorted(complete) == ["A0", "A1"]  # every candidate once: none lost, none run twice
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert [t.user_attrs.get("error") for t in failed] == ["interrupted"]
    assert "partial" not in (run / final_report_name()).read_text()


def test_crash_in_a_stage_writes_a_partial_report_and_resume_continues(tmp_path, session):  # noqa: F811
    # checkpoint_every beyond the stage: the only auto-save is the one made when the stage crashes
    config = staged_config(
        tmp_path, session, "max_stages=2", "upfront_sweep=false", "checkpoint_every=1000"
    )

    def crash(chain, stage, check):
        if stage == 2 and check.step == 10:
            raise RuntimeError("injected failure in stage 2")

    with pytest.raises(RuntimeError, match="injected failure"):
        train_staged(config, callback=crash)
    (run,) = (tmp_path / "runs").iterdir()
    assert "(partial: interrupted)" in (run / final_report_name()).read_text()
    assert json.loads((run / "summary.json").read_text())["partial"] is True
    assert list(json.loads((run / "run0" / "progress.json").read_text())["stages"]) == ["1"]

    seen = []
    resumed = train_staged(config, resume=run, callback=lambda c, s, check: seen.append(check.step))
    assert resumed.stopped_by == "completed"
    stage2 = json.loads((run / "run0" / "progress.json").read_text())["stages"]["2"]
    budget = stage2["budget"]
    expected = sorted({*range(5, budget + 1, 5), budget})  # a check every 5 steps and at the end
    assert budget > 10 and [c["step"] for c in stage2["timeline"]] == expected  # each check once
    assert seen == [s for s in expected if s > 10]  # continued from the crash's save at step 10
    assert "partial" not in (run / final_report_name()).read_text()


def test_parallel_chains_match_serial_ones(tmp_path, session):  # noqa: F811
    extra = ["max_stages=1", "runs_per_stage=2"]
    serial = train_staged(staged_config(tmp_path / "serial", session, *extra))
    parallel = train_staged(staged_config(tmp_path / "parallel", session, *extra, "parallel=true"))
    assert serial.stopped_by == parallel.stopped_by == "completed"
    assert sorted(parallel.metrics["best_hybrid"]) == ["0/1", "1/1"]  # both chains recorded
    assert (parallel.run_dir / "logs" / "chain1.log").is_file()
    for chain in (0, 1):
        a, b = (
            json.loads((r.run_dir / f"run{chain}" / "progress.json").read_text())["stages"]["1"]
            for r in (serial, parallel)
        )
        assert a["steps"] == b["steps"] and a["sweep_steps"] == b["sweep_steps"]
        np.testing.assert_allclose(
            [c["val_loss"] for c in b["timeline"]],
            [c["val_loss"] for c in a["timeline"]],
            rtol=1e-5,
        )
        assert b["lr_final"] == pytest.approx(a["lr_final"], rel=1e-6)
    chains = [
        json.loads((serial.run_dir / f"run{c}" / "progress.json").read_text())["stages"]["1"]
        for c in (0, 1)
    ]
    assert chains[0]["timeline"] != chains[1]["timeline"]  # the chains have their own seeds


def test_every_seed_and_learning_rate_share_one_compiled_step(tmp_path, session):  # noqa: F811
    from sensorimotor.train.canvas.staged import plan_stages
    from sensorimotor.train.canvas.staged_train import build_model, fresh_weights, load_stage_data

    config = staged_config(tmp_path, session, "trainer.augment=[roll_x,roll_y]")
    plan = plan_stages(config)[0]
    data = load_stage_data(config, plan.train, plan.val, plan.original)
    start = fresh_weights(config, data, 0)
    batch = data.train.canvases[: config.trainer.batch_size]
    losses = {}
    for seed, lr in [(1, 1e-3), (2, 3e-3), (1, 1e-3)]:
        model = build_model(config, data, lr, seed, start)
        losses.setdefault(seed, []).append(model.train_batch(batch)[0]["loss"])
    assert build_model(config, data, 1e-2, 3, start) is model  # one model (and step) per shape
    assert model._train_step._cache_size() == 1  # compiled once for every seed and lr
    assert losses[1][0] == losses[1][1]  # a seed's rolls are reproducible
    assert losses[1][0] != losses[2][0]  # and each seed has its own rolls
