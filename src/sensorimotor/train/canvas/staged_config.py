"""The config of ``sensorimotor canvas staged`` (a frozen dataclass; YAML round-trip; every key an
override) and its loading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sensorimotor.core.config import apply_overrides, load_config, load_saved_config
from sensorimotor.core.errors import UserError
from sensorimotor.train.canvas.config import TOLERANCE_PX, canvas_model_config
from sensorimotor.train.sweep.config import DivergenceConfig, PlateauConfig, SweepConfig
from sensorimotor.worldmodels.config import (
    CanvasModelConfig,
    CanvasTrainerConfig,
    WorldModelConfig,
)


@dataclass(frozen=True)
class StagedConfig:
    """Staged training of the canvas world model on growing slices of one session.

    Data: ``root_session`` (its progressive splits, made by ``canvas splits`` or on the fly), or
    ``train_session`` + ``val_session`` (one stage; ``original_session`` defaults to both)."""

    model: WorldModelConfig = field(default_factory=CanvasModelConfig)
    trainer: CanvasTrainerConfig = field(default_factory=CanvasTrainerConfig)
    root_session: str | None = None
    train_session: str | None = None
    val_session: str | None = None
    original_session: str | None = None
    sessions_root: str = "saved/sessions"
    initial_size: int = 10  # splits: observations of stage 1 (doubling per stage)
    train_ratio: float = 0.7
    stage: int | None = None  # run only this stage (1-based); null = every stage
    max_stages: int | None = None
    checkpoint: str | None = None  # start from this run's (canvas train/run/staged) weights
    stage_samples_multiplier: float = 50.0  # canvases trained per stage = multiplier x stage size
    min_stage_steps: int = 20
    max_stage_steps: int | None = None
    stage_time_budget_min: float | None = None  # wall-clock cap per stage
    eval_every: int = 10  # train steps per validation check (one detector update)
    max_check_canvases: int = 512  # canvases scored per check and split (0 = all)
    sampling_temperature: float = 1.0  # loss-weighted sampling: p ~ loss^(1/T); 0 = uniform
    hybrid_weight: float = 0.5  # hybrid = w * validation loss + (1 - w) * original-session loss
    max_hybrid_canvases: int = 256  # original-session canvases in the hybrid loss (evenly spaced)
    upfront_sweep: bool = True
    plateau_sweeps: bool = True
    sweep: SweepConfig = field(default_factory=SweepConfig)
    plateau: PlateauConfig = field(default_factory=PlateauConfig)
    divergence: DivergenceConfig = field(default_factory=DivergenceConfig)
    runs_per_stage: int = 1  # independent chains (seeds) for mean ± std statistics
    parallel: bool = False  # run the chains as processes at once
    only_run: int | None = None  # (set by --parallel) this process runs one chain
    baseline: bool = False  # also train each stage from fresh weights at trainer.lr, no sweeps
    checkpoint_every: int = 50  # train steps between a stage's auto-saves
    max_eval_canvases: int = 300
    position_metrics: Literal["auto", "on", "off"] = "auto"
    tolerance_px: float = TOLERANCE_PX
    wrap_x: bool = True
    seed: int = 0
    runs_root: str = "runs"
    name: str | None = None
    wandb: Literal["off", "auto", "online", "offline"] = "off"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stage_samples_multiplier <= 0 or self.min_stage_steps < 1 or self.eval_every < 1:
            raise ValueError(
                "stage_samples_multiplier must be > 0, min_stage_steps and eval_every >= 1"
            )
        if self.max_check_canvases < 0:
            raise ValueError(f"max_check_canvases must be >= 0, got {self.max_check_canvases}")
        if self.sampling_temperature < 0 or not 0 <= self.hybrid_weight <= 1:
            raise ValueError("sampling_temperature must be >= 0 and hybrid_weight in [0, 1]")
        if self.runs_per_stage < 1 or self.checkpoint_every < 1:
            raise ValueError("runs_per_stage and checkpoint_every must be >= 1")
        if self.stage is not None and self.stage < 1:
            raise ValueError(f"stage is 1-based, got {self.stage}")
        if self.stage_time_budget_min is not None and self.stage_time_budget_min <= 0:
            raise ValueError("stage_time_budget_min must be > 0 (or null)")


def load_staged_config(
    overrides: Sequence[str], config_file: str | Path | None = None
) -> StagedConfig:
    """``configs/robots/canvas_staged.yaml`` (or a saved ``config_file``) with overrides."""
    if config_file is not None:
        config = apply_overrides(load_saved_config(config_file, StagedConfig), list(overrides))
    else:
        config = load_config("robots", "canvas_staged", overrides, StagedConfig)
    canvas_model_config(config.model)
    if not config.root_session and not (config.train_session and config.val_session):
        raise UserError(
            "no data: give --root-session SESSION, or --train-session and --val-session"
        )
    if config.root_session and (config.train_session or config.val_session):
        raise UserError("give either --root-session or --train-session/--val-session, not both")
    return config
