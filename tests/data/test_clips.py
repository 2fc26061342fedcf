"""Rodent clip generator (real MuJoCo physics), clip format conventions and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from sensorimotor.core.errors import DataError
from sensorimotor.data.clips.format import clip_paths, read_clip

pytestmark = pytest.mark.mujoco


def test_generated_clips_follow_the_format(tiny_clips: Path) -> None:
    paths = clip_paths(tiny_clips)
    assert [p.name for p in paths] == [f"clip_{i}.h5" for i in range(6)]
    clip = read_clip(paths[0], require=("obs", "ctrl", "latent_mean"), extra=True)
    layout = clip.layout()
    assert set(layout) == {"reference", "qpos_local", "qvel", "act"}
    assert clip.obs.shape == (40, layout["act"][1])
    assert clip.ctrl.shape == (40, 38)
    assert clip.latent_mean.shape == (40, 4)
    assert clip.extra["reference"]["qpos"].shape == (40 + 3 + 1, 67)
    assert (tiny_clips / "intention_vae.h5").is_file()
    # Clips differ (seeded independently) and the body really moves.
    other = read_clip(paths[1])
    assert not np.allclose(clip.obs, other.obs)
    q0, q1 = layout["qpos_local"]
    assert clip.obs[:, q0:q1].std(0).max() > 0.01


def test_expert_is_a_function_of_the_observation(tiny_clips: Path) -> None:
    from sensorimotor.sequence.rollout import load_rollout_clip, tracker_for_clip

    clip = load_rollout_clip(clip_paths(tiny_clips)[2])
    tracker = tracker_for_clip(clip)
    # ctrl[t+1] = expert(obs[t]) (file convention) ...
    for t in (0, 10, 38):
        np.testing.assert_allclose(tracker.expert(clip.obs[t]), clip.ctrl[t + 1], atol=1e-6)
    # ... and obs[0] is rebuilt exactly from the recorded initial state and reference.
    init = clip.extra["init"]
    tracker.reset(init["qpos"], init["qvel"], init["act"])
    obs = tracker.observe(np.asarray(clip.extra["reference"]["qpos"], np.float64), 0)
    np.testing.assert_allclose(obs, clip.obs[0], atol=1e-5)


def test_expert_tracks_better_than_holding_still(tiny_clips: Path) -> None:
    clip = read_clip(clip_paths(tiny_clips)[0], extra=True)
    ref = clip.extra["reference"]["qpos"][:40]
    err_expert = np.abs(clip.extra["qpos"] - ref).mean()
    err_still = np.abs(clip.extra["qpos"][0] - ref).mean()
    assert err_expert < err_still


def test_corrupt_and_misshaped_clips_name_file_and_key(tiny_clips: Path, tmp_path: Path) -> None:
    src = clip_paths(tiny_clips)[0]
    bad = tmp_path / "clip_0.h5"
    bad.write_bytes(src.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"clip_0\.h5.*not a readable HDF5"):
        read_clip(bad)

    short = tmp_path / "clip_1.h5"
    shutil.copy(src, short)
    with h5py.File(short, "a") as f:
        ctrl = f["ctrl"][()]
        del f["ctrl"]
        f["ctrl"] = ctrl[:-3]
    with pytest.raises(DataError, match=r"clip_1\.h5: key /ctrl has 37 steps, expected T=40"):
        read_clip(short)

    nan = tmp_path / "clip_2.h5"
    shutil.copy(src, nan)
    with h5py.File(nan, "a") as f:
        f["obs"][5, 3] = np.nan
    with pytest.raises(DataError, match=r"clip_2\.h5: key /obs holds NaN"):
        read_clip(nan)

    missing = tmp_path / "clip_3.h5"
    shutil.copy(src, missing)
    with h5py.File(missing, "a") as f:
        del f["latent_mean"]
    with pytest.raises(DataError, match=r"clip_3\.h5: missing key /latent_mean"):
        read_clip(missing, require=("obs", "ctrl", "latent_mean"))

    with h5py.File(missing, "a") as f:
        f.attrs["obs_layout"] = '{"qpos_local": [0, 9999]}'
    with pytest.raises(DataError, match=r"obs_layout\['qpos_local'\].*D_obs=373"):
        read_clip(missing).layout()


def test_existing_clips_are_never_overwritten(tiny_clips: Path) -> None:
    from sensorimotor.sequence.clipgen import make_clips

    with pytest.raises(DataError, match="already holds 6 clips"):
        make_clips(tiny_clips, n_clips=1, steps=5, workers=1, progress=False)
