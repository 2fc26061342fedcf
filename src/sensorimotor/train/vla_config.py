"""``sensorimotor vla train`` configuration: model + data + trainer + cluster (``configs/vla/``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sensorimotor.core.config import load_config
from sensorimotor.vla.configuration import VLAConfig

FAMILY = "vla"


@dataclass
class VLADataConfig:
    """Where the demonstrations are (a LeRobot v3 dataset made by ``vla demos``)."""

    path: str = "saved/vla_demos"
    val_fraction: float = 0.1
    max_episodes: int | None = None


@dataclass
class VLATrainerConfig:
    """Optimisation, logging and checkpointing (``trainer=debug|default``)."""

    steps: int = 4000
    batch_size: int = 32  # global, over every device and accumulation step
    grad_accum: int = 1
    lr: float = 3e-4
    warmup_steps: int = 200
    end_lr: float = 3e-5
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    eval_every: int = 500
    val_batches: int = 4
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    wandb: str = "off"
    project: str = "sensorimotor-vla"
    progress: bool = True
    #: Stop (and save) after this many seconds of training, e.g. to fit a CPU budget.
    time_limit_s: float | None = None


@dataclass
class ClusterConfig:
    """Devices and hosts (``cluster=local|slurm``): a ``(data, fsdp)`` mesh over every device.

    ``data=-1`` takes every device left after ``fsdp``. Parameters and optimiser state with at
    least ``fsdp_min_size`` elements are split over the ``fsdp`` axis; batches over both axes.
    ``peak_flops`` (per device) turns the FLOP rate into MFU; without it MFU is not logged."""

    kind: Literal["local", "slurm"] = "local"
    data: int = -1
    fsdp: int = 1
    fsdp_min_size: int = 65536
    coordinator_port: int = 12355
    peak_flops: float | None = None


@dataclass
class VLATrainConfig:
    """One VLA training run."""

    name: str = "vla"
    model: VLAConfig = field(default_factory=VLAConfig)
    data: VLADataConfig = field(default_factory=VLADataConfig)
    trainer: VLATrainerConfig = field(default_factory=VLATrainerConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    runs_root: str = "runs"
    run_name: str | None = None


def load_vla_config(overrides: Sequence[str]) -> VLATrainConfig:
    """Compose ``configs/vla/train.yaml`` (groups ``model``, ``trainer``, ``cluster``) with overrides."""
    return load_config(FAMILY, "train", list(overrides), VLATrainConfig)
