"""Config schema of a sequence-model run (data + model + trainer), shared by train, predict, rollout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sensorimotor.data.clips.modes import ClipDataConfig
from sensorimotor.sequence.models import ModelConfig


@dataclass
class TrainerConfig:
    """Optimisation, logging and checkpointing."""

    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    loss_weights: dict[str, float] = field(default_factory=dict)
    wandb: Literal["off", "auto", "online", "offline"] = "off"
    project: str = "sensorimotor-sequence"
    progress: bool = True


@dataclass
class SequenceConfig:
    """One training run: ``name`` is the preset (s5_sa, mamba_sa, ...)."""

    name: str = "s5_sa"
    runs_root: str = "runs"
    run_name: str | None = None
    data: ClipDataConfig = field(default_factory=ClipDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
