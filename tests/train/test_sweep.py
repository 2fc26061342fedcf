"""The LR sweep on Optuna: phase A → B on an objective whose best LR is known, fallbacks,
workers sharing a study, a SIGKILLed run resumed, and the plateau / divergence detectors."""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import numpy as np
import optuna
import pytest

from sensorimotor.core.errors import ConfigError
from sensorimotor.train.sweep import (
    DivergenceConfig,
    DivergenceDetector,
    PlateauConfig,
    PlateauDetector,
    SweepConfig,
    choose_winner,
    log_uniform_candidates,
    run_sweep,
)
from sensorimotor.train.sweep.objective import load_objective
from sensorimotor.train.sweep.storage import default_storage_url, open_storage

TOY = "sensorimotor.train.sweep.toy:quadratic_objective"
FAST = {"lr_min": 1e-2, "lr_max": 1.0, "phase_a_trials": 8, "phase_a_steps": 3, "phase_b_steps": 6}


def completed_once(storage_url, study):
    """Candidate keys of a study's COMPLETE trials, checking none completed twice."""
    trials = optuna.load_study(study_name=study, storage=open_storage(storage_url)).get_trials()
    done = Counter(t.user_attrs["candidate"] for t in trials if t.state.name == "COMPLETE")
    assert all(n == 1 for n in done.values()), done
    return set(done), trials


def test_phase_a_then_b_finds_the_known_best_lr(tmp_path):
    config = SweepConfig(**FAST)
    result = run_sweep(TOY, {"curvature": 4.0}, config, tmp_path, name="s", fallback_lr=1e-3)
    lrs = [r["lr"] for r in result.phase_a]
    best_candidate = min(lrs, key=lambda lr: abs(1 - 4 * lr))  # the optimum is lr = 1/4
    assert result.source == "phase_b" and result.lr == best_candidate
    assert len(result.phase_a) == 8 and len(result.phase_b) == 4  # top 2 x 2 seeds
    assert {r["lr"] for r in result.phase_b} == set(sorted(lrs, key=lambda x: abs(1 - 4 * x))[:2])
    assert result.ranking[0]["lr"] == result.lr and result.ranking[0]["runs"] == 2
    assert os.path.exists(result.checkpoint)
    assert result.steps == 8 * 3 + 4 * 6
    # Called again, the finished sweep runs nothing new and gives the same winner.
    again = run_sweep(TOY, {"curvature": 4.0}, config, tmp_path, name="s", fallback_lr=1e-3)
    assert again.lr == result.lr and len(again.phase_a) == 8


def test_candidates_cover_the_range_log_uniformly():
    lrs = log_uniform_candidates(1e-4, 1e-1, 6, seed=3)
    edges = np.geomspace(1e-4, 1e-1, 7)
    assert all(a <= lr < b for lr, a, b in zip(lrs, edges[:-1], edges[1:], strict=True))
    assert lrs == log_uniform_candidates(1e-4, 1e-1, 6, seed=3)


def test_fallbacks_when_phases_fail():
    a = [
        {"lr": 0.1, "seed": 0, "state": "COMPLETE", "loss": 2.0, "checkpoint": "a1"},
        {"lr": 0.2, "seed": 0, "state": "COMPLETE", "loss": 1.0, "checkpoint": "a2"},
        {"lr": 0.9, "seed": 0, "state": "FAIL", "loss": math.inf, "checkpoint": None},
    ]
    b_failed = [{"lr": 0.2, "seed": 5, "state": "FAIL", "loss": math.inf, "checkpoint": None}]
    win = choose_winner(a, b_failed, "median", 1e-3, 0)
    assert (win.source, win.lr, win.checkpoint) == ("phase_a", 0.2, "a2")
    none = choose_winner([a[2]], [], "median", 1e-3, 0)
    assert (none.source, none.lr, none.checkpoint) == ("configured", 1e-3, None)
    b = [
        {"lr": 0.1, "seed": 1, "state": "COMPLETE", "loss": 0.5, "checkpoint": "x"},
        {"lr": 0.1, "seed": 2, "state": "COMPLETE", "loss": 3.0, "checkpoint": "y"},
        {"lr": 0.2, "seed": 1, "state": "COMPLETE", "loss": 1.0, "checkpoint": "z"},
        {"lr": 0.2, "seed": 2, "state": "COMPLETE", "loss": 1.1, "checkpoint": "w"},
    ]
    assert choose_winner(a, b, "min", 1e-3, 0).lr == 0.1  # min 0.5 < 1.0
    assert choose_winner(a, b, "median", 1e-3, 0).lr == 0.2  # median 1.05 < 1.75
    assert choose_winner(a, b, "mean", 1e-3, 0).checkpoint == "z"


def test_objectives_only_from_the_package():
    with pytest.raises(ConfigError, match="sensorimotor"):
        load_objective("os:system", {})
    with pytest.raises(ConfigError, match="not found"):
        load_objective("sensorimotor.train.sweep.toy:nope", {})


def test_two_worker_processes_share_one_study(tmp_path):
    config = SweepConfig(**{**FAST, "phase_b_top": 0, "workers": 2})
    spec = {"curvature": 4.0, "sleep_s": 0.05}
    result = run_sweep(TOY, spec, config, tmp_path, name="w", fallback_lr=1e-3)
    done, trials = completed_once(result.storage, "w-A")
    assert done == {f"A{i}" for i in range(8)} and len(trials) == 8  # none lost, none extra
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2 and str(os.getpid()) not in " ".join(workers)


def test_journal_storage_is_shared_too(tmp_path):
    url = f"journal:{tmp_path / 'sweeps.journal'}"
    config = SweepConfig(**{**FAST, "phase_a_trials": 4, "phase_b_top": 1, "phase_b_seeds": 2})
    config = SweepConfig(**{**config.__dict__, "storage": url, "workers": 2})
    result = run_sweep(TOY, {"curvature": 4.0}, config, tmp_path, name="j", fallback_lr=1e-3)
    assert completed_once(url, "j-A")[0] == {f"A{i}" for i in range(4)}
    assert completed_once(url, "j-B")[0] == {"B0-0", "B0-1"}
    assert result.source == "phase_b"


def test_sigkilled_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    config = dict(FAST, phase_b_top=0, heartbeat_s=0.5, grace_s=30.0)
    script = textwrap.dedent(
        f"""
        from sensorimotor.train.sweep import run_sweep, SweepConfig
        run_sweep({TOY!r}, {{"curvature": 4.0, "sleep_s": 0.4}}, SweepConfig(**{config!r}),
                  {str(tmp_path)!r}, name="k", fallback_lr=1e-3)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    url = default_storage_url(tmp_path)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until the second trial is running
            time.sleep(0.3)
            try:
                trials = optuna.load_study(study_name="k-A", storage=open_storage(url)).get_trials()
            except (KeyError, Exception):  # noqa: BLE001 - the study is not created yet
                continue
            if sum(t.state.name == "COMPLETE" for t in trials) >= 1 and any(
                t.state.name == "RUNNING" for t in trials
            ):
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    running = [t for t in trials if t.state.name == "RUNNING"]
    assert running, "the sweep finished before it could be killed"
    resumed = run_sweep(
        TOY, {"curvature": 4.0}, SweepConfig(**config), tmp_path, name="k", fallback_lr=1e-3
    )
    done, trials = completed_once(url, "k-A")
    assert done == {f"A{i}" for i in range(8)}
    lost = [t for t in trials if t.state.name == "FAIL"]
    assert [t.user_attrs["error"] for t in lost] == ["worker lost (no heartbeat)"]
    assert lost[0].user_attrs["candidate"] == running[0].user_attrs["candidate"]
    assert resumed.source == "phase_a"


def test_plateau_detector_fires_after_patience_with_cooldown_and_a_cap():
    det = PlateauDetector(PlateauConfig(patience=5, threshold=0.005, cooldown=3, max_per_stage=2))
    fired = [det.update(loss) for loss in [1.0, 0.9, 0.8]]  # improving: never
    assert not any(fired)
    flat = [det.update(0.8 * (1 - 0.001 * i)) for i in range(1, 30)]  # < 0.5 % per update
    at = [i for i, f in enumerate(flat) if f]
    assert at[0] == 4 and len(at) == 2  # after 5 flat updates; twice at most
    assert at[1] - at[0] == 3 + 5  # the cooldown, then a whole new patience
    assert det.accepts(1.0, 0.98) and not det.accepts(1.0, 0.995) and not det.accepts(1.0, math.nan)


def test_plateau_detector_quiet_while_improving():
    det = PlateauDetector(PlateauConfig(patience=5))
    assert not any(det.update(0.99**i) for i in range(200))  # 1 % per update > 0.5 %


def test_divergence_stops_a_diverging_run_not_a_converging_one():
    rng = np.random.default_rng(0)
    steps = np.arange(60)
    train = np.exp(-steps / 20) + 0.01
    diverging_val = 0.3 + (steps / 30.0 - 1.0) ** 2 * 0.3  # minimum at check 30, then rises
    det = DivergenceDetector(DivergenceConfig(patience=5, tolerance=0.05))
    stops = [det.update(t, v) for t, v in zip(train, diverging_val, strict=True)]
    assert any(stops) and 30 < stops.index(True) < 50
    converging_val = train * 1.3 + 0.02 * rng.standard_normal(60) * train
    det = DivergenceDetector(DivergenceConfig(patience=5, tolerance=0.05))
    assert not any(det.update(t, v) for t, v in zip(train, converging_val, strict=True))
    det = DivergenceDetector(DivergenceConfig())
    assert det.update(1.0, math.nan)
