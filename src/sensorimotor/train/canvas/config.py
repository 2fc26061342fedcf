"""Config schemas and loading of the canvas world-model jobs (``run``, ``canvas train``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sensorimotor.core.config import (
    apply_overrides,
    load_config,
    load_saved_config,
)
from sensorimotor.core.errors import ConfigError, UserError
from sensorimotor.core.rng import derive_seed
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.config import RobotConfig, SelectorConfig, resolve_seeds
from sensorimotor.worldmodels.config import (
    CanvasModelConfig,
    CanvasTrainerConfig,
    WorldModelConfig,
)

TOLERANCE_PX = 3.0


@dataclass
class CanvasValidationConfig:
    """The held-out validation session and the quality metrics computed on it."""

    steps: int = 400  # length of the validation session; 0 = no quality evaluation
    seed: int | None = None  # null = derived from the run's seed (never the training seed)
    max_canvases: int = 300  # held-out canvases evaluated (evenly spaced over the session)
    # Dot position / counterfactual metrics; auto = when observations carry dot_x and dot_y.
    position_metrics: Literal["auto", "on", "off"] = "auto"
    tolerance_px: float = TOLERANCE_PX  # counterfactual: displacement error allowed, robot pixels
    wrap_x: bool = True  # centroids and displacements wrap around in x (the toroidal dot)
    grid_frames: int = 6  # held-out frames shown in the report's counterfactual grid

    def __post_init__(self) -> None:
        if self.steps < 0 or self.max_canvases < 1 or self.grid_frames < 0:
            raise ValueError("validation.steps must be >= 0, max_canvases >= 1, grid_frames >= 0")


@dataclass
class CanvasRunConfig:
    """``sensorimotor run``: the online canvas world model on a robot."""

    robot: RobotConfig = field(default_factory=RobotConfig)
    selector: SelectorConfig = field(default_factory=SelectorConfig)
    model: WorldModelConfig = field(default_factory=CanvasModelConfig)
    trainer: CanvasTrainerConfig = field(default_factory=CanvasTrainerConfig)
    validation: CanvasValidationConfig = field(default_factory=CanvasValidationConfig)
    steps: int | None = 3500  # online iterations; null = until Ctrl-C
    seed: int = 0
    runs_root: str = "runs"
    name: str | None = None  # run folder name; null = run-<date>-<time>
    record: bool = True  # record the training session into the run directory
    resume_robot: Literal["replay", "fresh"] = "replay"  # see docs/worldmodels.md
    wandb: Literal["off", "auto", "online", "offline"] = "off"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be >= 0 (or null for until Ctrl-C), got {self.steps}")


@dataclass
class CanvasTrainConfig:
    """``sensorimotor canvas train``: batch training on recorded sessions."""

    model: WorldModelConfig = field(default_factory=CanvasModelConfig)
    trainer: CanvasTrainerConfig = field(default_factory=CanvasTrainerConfig)
    sessions: list[str] = field(default_factory=list)  # training sessions (paths or robot/name)
    eval_sessions: list[str] = field(default_factory=list)  # held-out sessions
    sessions_root: str = "saved/sessions"
    steps: int = 2000
    seed: int = 0
    runs_root: str = "runs"
    name: str | None = None
    max_eval_canvases: int = 300
    position_metrics: Literal["auto", "on", "off"] = "auto"
    tolerance_px: float = TOLERANCE_PX
    wrap_x: bool = True
    wandb: Literal["off", "auto", "online", "offline"] = "off"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")


def canvas_model_config(config: WorldModelConfig) -> CanvasModelConfig:
    """The model config as a canvas config; a clear error for any other world model."""
    if not isinstance(config, CanvasModelConfig):
        raise ConfigError(
            f"model.type {config.type!r} is not a canvas world model; this job needs model=canvas"
        )
    return config


def load_run_config(overrides: Sequence[str]) -> CanvasRunConfig:
    """The ``run`` config (``configs/robots/run.yaml`` + overrides) with seeds resolved."""
    config = load_config("robots", "run", overrides, CanvasRunConfig)
    resolve_seeds(config.seed, config.robot, config.selector)
    if config.validation.seed is None:
        config.validation.seed = derive_seed(config.seed, "validation")
    canvas_model_config(config.model)
    return config


def load_train_config(sessions: Sequence[str], overrides: Sequence[str]) -> CanvasTrainConfig:
    """The ``canvas train`` config (``configs/robots/canvas_train.yaml`` + overrides)."""
    config = load_config("robots", "canvas_train", overrides, CanvasTrainConfig)
    if sessions:
        config.sessions = list(sessions)
    if not config.sessions:
        raise UserError("no training sessions: give them as arguments (paths or robot_type/name)")
    canvas_model_config(config.model)
    return config


def load_any_config(run: RunDir) -> CanvasRunConfig | CanvasTrainConfig:
    errors = []
    for schema in (CanvasRunConfig, CanvasTrainConfig):
        try:
            return load_saved_config(run.config_path, schema)
        except ConfigError as e:
            errors.append(str(e))
    raise ConfigError(f"{run.config_path}: not a canvas run config ({errors[0]})")


def resume_config(run_dir: str | Path, overrides: Sequence[str], schema: type) -> Any:
    """The saved config of a run with ``overrides`` applied (e.g. more steps)."""
    run = RunDir.open(run_dir)
    config = load_saved_config(run.config_path, schema)
    return apply_overrides(config, list(overrides)) if overrides else config
