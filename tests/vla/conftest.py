"""Shared fixtures of the VLA tests: a tiny model config and a tiny rendered demo dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorimotor.vla.configuration import VLAConfig

#: Small enough for seconds on a CPU: 16 px images, one 8 px patch grid, a 2-layer backbone.
TINY = {
    "width": 32,
    "depth": 2,
    "heads": 2,
    "vit_width": 32,
    "vit_depth": 1,
    "vit_heads": 2,
    "image_size": 16,
    "patch_size": 8,
    "horizon": 4,
    "flow_steps": 4,
}


def tiny_config(**overrides: object) -> VLAConfig:
    """The tiny VLA (cameras of the tiny demos)."""
    return VLAConfig(**{**TINY, **overrides})  # type: ignore[arg-type]


def tiny_overrides(demos: Path, runs: Path, **extra: object) -> list[str]:
    """``vla train`` overrides for the tiny model on the tiny demos."""
    items = {f"model.{k}": v for k, v in TINY.items()}
    items.update(
        {
            "trainer": "debug",
            "data.path": str(demos),
            "data.val_fraction": 0.34,
            "runs_root": str(runs),
            "trainer.batch_size": 8,
            "trainer.steps": 6,
            "trainer.log_every": 2,
            "trainer.eval_every": 3,
            "trainer.checkpoint_every": 3,
        }
    )
    items.update(extra)
    return [f"{k}={v}" for k, v in items.items()]


@pytest.fixture(scope="session")
def tiny_demos(tmp_path_factory: pytest.TempPathFactory, _gl_problem: str | None) -> Path:
    """Three rendered expert episodes (one per task) at 16 px, made by ``vla demos``."""
    if _gl_problem:
        pytest.skip(f"no OpenGL backend for offscreen rendering: {_gl_problem}")
    from sensorimotor.cli import main

    out = tmp_path_factory.mktemp("vla") / "demos"
    code = main(
        [
            "vla",
            "demos",
            f"out={out}",
            "episodes_per_task=1",
            "image_size=16",
            "workers=1",
            "--no-progress",
        ]
    )
    assert code == 0
    return out
