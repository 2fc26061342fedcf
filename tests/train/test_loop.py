"""The loop kit: intervals, metrics window, Ctrl-C stop flag, non-finite policy, run checkpoints."""

import os
import signal

import h5py
import numpy as np
import pytest

from sensorimotor.core.numerics import NonFiniteError
from sensorimotor.core.rundir import RunDir
from sensorimotor.train.loop import (
    Interval,
    MetricsWindow,
    NonFinitePolicy,
    RunCheckpoints,
    RunResult,
    StopFlag,
    progress,
    steps_to_boundary,
)


def test_interval_is_due_at_multiples_the_last_step_and_optionally_step_0():
    iv = Interval(every=4, total=10, at_start=True)
    assert [s for s in range(11) if iv.due(s)] == [0, 4, 8, 10]
    assert [s for s in range(11) if Interval(4, total=10).due(s)] == [4, 8, 10]
    assert not any(Interval(0, total=10).due(s) for s in range(11))
    assert [iv.next_due(s) for s in (0, 3, 4, 8, 9)] == [4, 4, 8, 10, 10]


def test_steps_to_boundary_stops_at_the_nearest_interval_or_the_end():
    ivs = [Interval(5, total=12), Interval(3, total=12), Interval(0)]
    assert [steps_to_boundary(s, ivs, 12) for s in (0, 3, 5, 9, 10, 12)] == [3, 2, 1, 1, 2, 0]
    chunks, step = [], 0
    while step < 12:
        n = steps_to_boundary(step, ivs, 12)
        chunks.append(n)
        step += n
    assert chunks == [3, 2, 1, 3, 1, 2]


def test_metrics_window_means_since_the_last_flush_and_rates():
    w = MetricsWindow()
    w.add_many([{"loss": 1.0}, {"loss": 3.0, "q": np.float32(2.0)}])
    w.count("env_steps", 10)
    out = w.flush()
    assert out["loss"] == 2.0 and out["q"] == 2.0 and out["env_steps_per_s"] > 0
    w.add({"loss": 5.0})
    assert w.flush() == {"loss": 5.0, "env_steps_per_s": 0.0}
    assert w.flush() == {"env_steps_per_s": 0.0}


def test_rolling_metrics_window_keeps_the_last_n_values():
    w = MetricsWindow(size=2)
    w.add_many({"x": float(v)} for v in (1, 2, 3))
    assert w.flush() == {"x": 2.5}
    assert w.means() == {"x": 2.5}  # a rolling window survives a flush
    with pytest.raises(ValueError, match="size must be >= 1"):
        MetricsWindow(size=0)


def test_stop_flag_turns_the_first_ctrl_c_into_a_flag_and_the_second_into_an_interrupt():
    previous = signal.getsignal(signal.SIGINT)
    with StopFlag() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.stopped
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_non_finite_policy_saves_the_batch_and_names_the_step(tmp_path):
    policy = NonFinitePolicy(tmp_path, context="update metrics")
    batch = {"observations": np.ones((2, 3)), "actions": np.zeros((2, 1))}
    policy.check({"loss": 1.0}, step=3, batch=batch)  # finite: nothing happens
    assert not list(tmp_path.iterdir())
    with pytest.raises(NonFiniteError, match=r"update metrics at step 7: \['loss'\].*step_7.h5"):
        policy.check({"loss": float("nan"), "q": 1.0}, step=7, batch=batch)
    with h5py.File(tmp_path / "nonfinite_batch_step_7.h5") as f:
        np.testing.assert_array_equal(f["observations"][()], batch["observations"])
    with pytest.raises(NonFiniteError, match="at step 8"):
        policy.check({"loss": np.inf}, step=8)


def test_run_checkpoints_save_restore_latest_and_refuse_a_diverged_tree(tmp_path):
    run = RunDir.create(tmp_path, "run")
    ckpts = RunCheckpoints(run, keep=2)
    assert ckpts.restore_latest() is None and ckpts.latest_step() is None
    for step in (1, 2, 3):
        ckpts.save(step, {"w": np.full(2, float(step))}, {"run_state": {"updates": step}})
    tree, meta = ckpts.restore_latest()
    assert ckpts.latest_step() == 3 and meta["run_state"] == {"updates": 3}
    np.testing.assert_array_equal(tree["w"], [3.0, 3.0])
    with pytest.raises(NonFiniteError, match="before checkpointing at step 4"):
        ckpts.save(4, {"w": np.asarray([np.nan, 0.0])})
    assert ckpts.latest_step() == 3


def test_progress_and_run_result(tmp_path):
    bar = progress(5, desc="x", initial=7, enabled=False)
    assert bar.n == 5
    bar.close()
    result = RunResult(tmp_path, steps=5, seconds=1.0)
    assert result.stopped_by == "completed" and result.metrics == {} and result.counters == {}
