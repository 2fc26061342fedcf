"""Clip datasets: every mode's shapes, by-clip split, normalisation, noise, streaming, registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.data.clips.datasets import (
    DATASETS,
    MODES,
    ClipDataConfig,
    ClipDataset,
    make_dataset,
    split_clips,
)
from sensorimotor.data.clips.format import clip_paths, update_clip

pytestmark = pytest.mark.mujoco


@pytest.fixture(scope="module")
def clips_with_syllables(tiny_clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny clips plus /syllables (the generator's regime labels stand in for AR-HMM ones)."""
    out = tmp_path_factory.mktemp("syl") / "clips"
    shutil.copytree(tiny_clips, out)
    for p in clip_paths(out):
        with h5py.File(p, "r") as f:
            regime = f["reference/regime"][()]
        update_clip(p, "syllables", regime.astype(np.int32))
    return out


def _cfg(path: Path, **kw: object) -> ClipDataConfig:
    base = dict(path=str(path), segment_length=8, stride=4, val_fraction=0.34, workers=1)
    return ClipDataConfig(**{**base, **kw})  # type: ignore[arg-type]


EXPECTED = {
    "state_action": ({"action": 38}, 373),
    "pure_state": ({"state": 67 + 67 + 38}, 373),
    "state_intention": ({"intention": 4}, 373),
    "pure_intention": ({"intention": 4}, 4),
    "state_intention_controller": ({"intention": 4, "action": 38}, 373),
    "syllable_state_intention": ({"intention": 4, "action": 38}, 373 + 3),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_has_the_right_shapes(clips_with_syllables: Path, mode: str) -> None:
    ds = ClipDataset(_cfg(clips_with_syllables, mode=mode, n_syllables=3))
    targets, d_in = EXPECTED[mode]
    assert ds.target_dims == targets and ds.d_in == d_in
    batch = next(ds.batches("train", 3))
    assert batch["x"].shape == (3, 8, d_in)
    for k, d in targets.items():
        assert batch[k].shape == (3, 8, d)
    clip = ds.clips("val")[0]
    assert clip.x.shape == (39, d_in)


def test_targets_are_shifted_as_documented(tiny_clips: Path) -> None:
    from sensorimotor.data.clips.format import read_clip

    ds = ClipDataset(_cfg(tiny_clips, mode="state_intention_controller"))
    arr = ds.clips("train")[0]
    raw = read_clip(arr.path)
    np.testing.assert_array_equal(arr.x, raw.obs[:-1])
    np.testing.assert_array_equal(arr.targets["action"], raw.ctrl[1:])  # a_{t+1}
    np.testing.assert_array_equal(arr.targets["intention"], raw.latent_mean[:-1])  # i_t


def test_split_is_by_clip_seeded_and_disjoint(tiny_clips: Path) -> None:
    paths = clip_paths(tiny_clips)
    a = split_clips(paths, 0.34, seed=1)
    assert a == split_clips(paths, 0.34, seed=1)
    assert not set(a[0]) & set(a[1]) and len(a[0]) + len(a[1]) == 6 and len(a[1]) == 2
    assert any(split_clips(paths, 0.34, seed=s) != a for s in range(2, 6))
    ds = ClipDataset(_cfg(tiny_clips))
    assert not set(ds.paths("train")) & set(ds.paths("val"))
    one = ClipDataset(_cfg(tiny_clips, overfit_single_clip=True))
    assert one.paths("train") == one.paths("val") == paths[:1]


def test_normalizers_fit_on_clean_train_data_and_invert(tiny_clips: Path) -> None:
    ds = ClipDataset(_cfg(tiny_clips, noise_std=0.5))
    x = np.concatenate([c.x for c in ds.clips("train")])
    xn = ds.normalizers["x"].normalize(x)
    np.testing.assert_allclose(xn.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(ds.normalizers["x"].denormalize(xn), x, rtol=1e-4, atol=1e-4)
    y = np.concatenate([c.targets["action"] for c in ds.clips("val")])
    np.testing.assert_allclose(
        ds.normalizers["action"].denormalize(ds.normalizers["action"].normalize(y)), y, atol=1e-5
    )
    # Noise only on training batches.
    clean = ClipDataset(_cfg(tiny_clips))
    noisy_train = next(ds.batches("train", 4, seed=3))["x"]
    clean_train = next(clean.batches("train", 4, seed=3))["x"]
    assert (noisy_train - clean_train).std() == pytest.approx(0.5, rel=0.1)
    np.testing.assert_array_equal(
        next(ds.batches("val", 4, seed=3))["x"], next(clean.batches("val", 4, seed=3))["x"]
    )


def test_streaming_gives_the_same_batches_as_preloading(tiny_clips: Path) -> None:
    pre = ClipDataset(_cfg(tiny_clips, mode="state_intention"))
    stream = ClipDataset(_cfg(tiny_clips, mode="state_intention", preload=False))
    for a, b in zip(
        pre.batches("train", 4, seed=0), stream.batches("train", 4, seed=0), strict=False
    ):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-5)
        break
    assert pre.num_windows("train") == stream.num_windows("train")


def test_preload_with_worker_processes(tiny_clips: Path) -> None:
    ds = ClipDataset(_cfg(tiny_clips, workers=2, val_fraction=0.0))
    serial = ClipDataset(_cfg(tiny_clips, workers=1, val_fraction=0.0))
    for a, b in zip(ds.clips("train"), serial.clips("train"), strict=True):
        np.testing.assert_array_equal(a.x, b.x)


def test_bad_config_and_missing_data_errors(tiny_clips: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown mode 'nope'"):
        ClipDataset(_cfg(tiny_clips, mode="nope"))
    with pytest.raises(ConfigError, match="unknown dataset 'nope'.*clips"):
        make_dataset(_cfg(tiny_clips, dataset="nope"))
    assert "clips" in DATASETS.names()
    with pytest.raises(DataError, match="missing key /syllables"):
        ClipDataset(_cfg(tiny_clips, mode="syllable_state_intention"))
    with pytest.raises(DataError, match="no training clip is longer"):
        ClipDataset(_cfg(tiny_clips, segment_length=500))
    with pytest.raises(DataError, match="does not exist"):
        ClipDataset(_cfg(tmp_path / "nothing"))
