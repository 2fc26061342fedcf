"""Closed-loop rollouts in MuJoCo: expert and learned policies, failure detection, video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorimotor.core.errors import DataError
from sensorimotor.data.clips.format import clip_paths

pytestmark = pytest.mark.mujoco


def test_expert_rollout_reproduces_recorded_quality(tiny_clips: Path) -> None:
    from sensorimotor.sequence.rollout import (
        expert_policy,
        load_rollout_clip,
        rollout,
        tracker_for_clip,
    )

    clip = load_rollout_clip(clip_paths(tiny_clips)[0])
    tracker = tracker_for_clip(clip)
    res = rollout(tracker, clip, expert_policy(tracker))
    assert res.qpos.shape == (40, 67) and res.error.shape == (40, 67)
    assert res.steps_survived == 40 and not res.diverged
    # The noise-free expert tracks about as well as the noisy one that recorded the clip.
    assert res.mean_error < 2 * float(clip.attrs["expert_tracking_error"])
    # A policy that does nothing useful fails the tracking threshold.
    still = rollout(tracker, clip, lambda obs, t: np.full(38, 0.9), fail_threshold=0.05)
    assert still.steps_survived < 40 and still.mean_error > res.mean_error


def test_rollout_needs_reference_and_init(tiny_clips: Path, tmp_path: Path) -> None:
    import shutil

    import h5py

    from sensorimotor.sequence.rollout import load_rollout_clip

    p = tmp_path / "clip_0.h5"
    shutil.copy(clip_paths(tiny_clips)[0], p)
    with h5py.File(p, "a") as f:
        del f["init"]
    with pytest.raises(DataError, match=r"clip_0\.h5: missing group /init"):
        load_rollout_clip(p)


def test_rollout_job_with_a_trained_model_writes_report_and_video(
    tiny_clips: Path, tmp_path: Path
) -> None:
    from sensorimotor.train.sequence import load_sequence_config, rollout_run, train

    cfg = load_sequence_config(
        ["trainer=debug", "data=tiny", f"data.path={tiny_clips}", f"runs_root={tmp_path}",
         "model=gru_sa", "model.d_model=16", "model.n_layers=1", "trainer.steps=5"]
    )  # fmt: skip
    run = Path(train(cfg).run_dir)
    summary = rollout_run(run, n_clips=1, video=True, video_every=8, progress=False)
    assert summary["n_clips"] == 1 and summary["expert_error"] > 0
    assert summary["error_ratio"] == pytest.approx(summary["model_error"] / summary["expert_error"])
    out = run / "rollout"
    assert (out / "rollout.json").is_file() and (out / "report.html").is_file()
    import imageio.v2 as imageio

    frames = imageio.mimread(out / "rollout.mp4")
    assert len(frames) == 5 and frames[0].shape == (240, 640, 3)
    assert frames[0].std() > 5  # something was drawn
