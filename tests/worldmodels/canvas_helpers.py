"""Tiny robot, model and trainer configs shared by the world-model tests."""

from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot
from sensorimotor.worldmodels.config import CanvasModelConfig, CanvasTrainerConfig

#: A 16x16 toroidal dot moving 5 px: small enough to run the model at native size.
TINY_ROBOT = {"width": 16, "height": 16, "dot_radius": 2, "move_pixels": 5}


def tiny_model_config(**overrides) -> CanvasModelConfig:
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


def tiny_trainer_config(**overrides) -> CanvasTrainerConfig:
    base = {
        "lr": 3e-3,
        "warmup_steps": 2,
        "batch_size": 4,
        "history": 64,
        "normalizer_frames": 4,
        "eval_batch_size": 8,
    }
    return CanvasTrainerConfig(**{**base, **overrides})


def tiny_robot(seed: int = 0) -> ToroidalDotRobot:
    return ToroidalDotRobot(ToroidalDotConfig(seed=seed, **TINY_ROBOT))


def tiny_selector(robot, seed: int = 0) -> RandomDurationSelector:
    return RandomDurationSelector(robot.action_space, 1, 3, seed=seed)
