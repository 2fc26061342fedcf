"""A tiny real clip set (MuJoCo rodent + intention VAE), made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mujoco")
    from sensorimotor.data.clips.generate import make_dataset
    from sensorimotor.data.clips.intention import IntentionConfig

    out = tmp_path_factory.mktemp("clips") / "tiny"
    make_dataset(
        out,
        n_clips=6,
        steps=40,
        seed=0,
        workers=1,
        intention=IntentionConfig(latent_dim=4, hidden=(32,), steps=30, batch_size=64),
        progress=False,
    )
    return out
