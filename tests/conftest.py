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
def _gl_problem() -> str | None:
    """Why offscreen rendering is impossible here, or None when a tiny render works."""
    try:
        import mujoco

        from sensorimotor.sim.render import Renderer
    except ImportError as e:
        return f"MuJoCo is not installed ({e})"
    from sensorimotor.core.errors import UserError

    model = mujoco.MjModel.from_xml_string(
        '<mujoco><worldbody><camera name="c" pos="0 0 1"/><geom size="0.1"/></worldbody></mujoco>'
    )
    try:
        with Renderer(model, 8, 8) as renderer:
            renderer.render(mujoco.MjData(model), "c")
    except UserError as e:
        return str(e)
    return None


@pytest.fixture
def gl(_gl_problem: str | None) -> None:
    """Use in tests that render: skips them when no GL backend (EGL/OSMesa) is available."""
    if _gl_problem:
        pytest.skip(f"no OpenGL backend for offscreen rendering: {_gl_problem}")


def record_session(
    root: Path, steps: int = 30, seed: int = 0, name: str | None = None, **robot: object
) -> Path:
    """Record a toroidal-dot session (``robot`` overrides its config, e.g. ``width=16``) driven by
    a seeded random-duration selector (holds 1-4 steps) into ``root``; returns its folder."""
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot

    dot = ToroidalDotRobot(ToroidalDotConfig(seed=seed, **robot))  # type: ignore[arg-type]
    runner = RobotRunner(
        dot,
        RandomDurationSelector(dot.action_space, 1, 4, seed=seed),
        steps=steps,
        record_to=root,
        session_name=name,
        progress=False,
    )
    return runner.run().session


@pytest.fixture(scope="session")
def record_session_into():
    """:func:`record_session` itself, for fixtures of any scope that choose their own folder."""
    return record_session


@pytest.fixture
def session_recorder(tmp_path: Path):
    """``session_recorder(steps=30, seed=0, **robot) -> Path``: record a toroidal-dot session
    under ``tmp_path/sessions`` (see :func:`record_session`)."""
    return lambda **kw: record_session(tmp_path / "sessions", **kw)


@pytest.fixture
def recorded_session(session_recorder):
    """A 30-step toroidal-dot session recorded with a seeded random-duration selector."""
    from sensorimotor.robots.session import SessionReader

    return SessionReader(session_recorder())


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real clip set (MuJoCo rodent + intention VAE), made once per test session."""
    pytest.importorskip("mujoco")
    from sensorimotor.sequence.clipgen import generate_clips
    from sensorimotor.sequence.intention import IntentionConfig

    out = tmp_path_factory.mktemp("clips") / "tiny"
    generate_clips(
        out,
        n_clips=6,
        steps=40,
        seed=0,
        workers=1,
        intention=IntentionConfig(latent_dim=4, hidden=(32,), steps=30, batch_size=64),
        progress=False,
    )
    return out


# --------------------------------------------------------------------------------------------
# Tiny RL configs shared by the policy, agent and RL-driver tests (identical configs and batch
# shapes let those tests reuse each other's compiled updates).
# --------------------------------------------------------------------------------------------

RL_POLICY = {"hidden": [32, 32], "lr": 3e-3}
RL_DIFFUSION = {"hidden": [32, 32], "num_steps": 10, "sample_steps": 3, "lr": 3e-3}
RL_CRITIC = {"hidden": [32, 32], "lr": 3e-3}
RL_AGENTS = {
    "bc": {"policy_type": "gaussian", "policy": RL_POLICY},
    "sac": {"policy": RL_POLICY, "critic": RL_CRITIC},
    "iql": {
        "policy_type": "autoregressive", "policy": {"hidden": [32], "num_bins": 8, "lr": 3e-3},
        "critic": RL_CRITIC, "value": RL_CRITIC,
    },
    "pa_rl": {
        "policy": RL_DIFFUSION, "critic": RL_CRITIC, "num_samples": 8, "top_k": 2,
        "grad_steps": 2, "distill_batch": 8, "backup_samples": 2, "cql_alpha": 0.1,
    },
    "tdmpc2": {
        "model_size": None, "enc_dim": 32, "mlp_dim": 32, "latent_dim": 16, "num_enc_layers": 2,
        "num_q": 2, "num_bins": 11, "horizon": 3, "iterations": 2, "num_samples": 32,
        "num_elites": 8, "num_pi_trajs": 4, "episode_length": 200,
    },
}  # fmt: skip


@pytest.fixture(scope="session")
def rl_configs() -> dict[str, dict]:
    """Tiny configs of every agent (``RL_AGENTS``), copied so a test cannot change them."""
    import copy

    return copy.deepcopy(RL_AGENTS)
