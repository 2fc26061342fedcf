"""Test-wide settings: quiet tracking, headless GL, a persistent JAX compile cache, marker skips."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import pytest  # noqa: E402

_CACHE = Path(
    os.environ.get("SENSORIMOTOR_JAX_CACHE", Path.home() / ".cache" / "sensorimotor" / "jax")
)
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _has_gpu() -> bool:
    try:
        return any(d.platform == "gpu" for d in jax.devices())
    except RuntimeError:
        return False


def _has_mujoco() -> bool:
    return importlib.util.find_spec("mujoco") is not None


def _has_lerobot() -> bool:
    return all(
        importlib.util.find_spec(m) is not None for m in ("lerobot", "lerobot_policy_simple_joint")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {
        "lerobot": None
        if _has_lerobot()
        else "lerobot or the simple_joint plugin is not installed (pip install -e '.[lerobot]' "
        "plugins/lerobot_policy_simple_joint)",
        "gpu": None if _has_gpu() else "no GPU",
        "mujoco": None if _has_mujoco() else "MuJoCo is not installed (pip install -e '.[sim]')",
        "viewer": None if os.environ.get("DISPLAY") else "no display for the interactive viewer",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real clip set (MuJoCo rodent + intention VAE), made once per test session."""
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
