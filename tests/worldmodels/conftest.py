"""Tiny robot, model and trainer configs shared by the world-model tests (as the `tiny` fixture)."""

from types import SimpleNamespace

import pytest

from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot
from sensorimotor.worldmodels.config import CanvasModelConfig, CanvasTrainerConfig

#: A 16x16 toroidal dot moving 5 px: small enough to run the model at native size.
TINY_ROBOT = {"width": 16, "height": 16, "dot_radius": 2, "move_pixels": 5}


def _tiny_model_config(**overrides) -> CanvasModelConfig:
    base = {
        "frame_size": [16, 16],
        "slots": 3,
        "separator_width": 4,
        "patch_size": 4,
        "width": 16,
        "depth": 1,
        "heads": 2,
        "mlp_ratio": 2.0,
    }
    return CanvasModelConfig(**{**base, **overrides})


def _tiny_trainer_config(**overrides) -> CanvasTrainerConfig:
    base = {
        "lr": 3e-3,
        "warmup_steps": 2,
        "batch_size": 4,
        "history": 64,
        "normalizer_frames": 4,
        "eval_batch_size": 8,
    }
    return CanvasTrainerConfig(**{**base, **overrides})


def _tiny_robot(seed: int = 0) -> ToroidalDotRobot:
    return ToroidalDotRobot(ToroidalDotConfig(seed=seed, **TINY_ROBOT))


def _tiny_selector(robot, seed: int = 0) -> RandomDurationSelector:
    return RandomDurationSelector(robot.action_space, 1, 3, seed=seed)


@pytest.fixture(scope="session")
def tiny() -> SimpleNamespace:
    """``tiny.model_config(**kw)``, ``tiny.trainer_config(**kw)``, ``tiny.robot(seed)``,
    ``tiny.selector(robot, seed)``."""
    return SimpleNamespace(
        model_config=_tiny_model_config,
        trainer_config=_tiny_trainer_config,
        robot=_tiny_robot,
        selector=_tiny_selector,
    )


@pytest.fixture
def robot_and_selector(tiny):
    robot = tiny.robot()
    return robot, tiny.selector(robot)
