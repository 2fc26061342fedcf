"""Config schemas of the world models (``model=...``) and their trainer (``trainer=...``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from sensorimotor.core.registry import Registry

#: ``model.type`` → world-model config class.
WORLD_MODELS = Registry(
    "world model",
    {
        "canvas": "sensorimotor.worldmodels.config:CanvasModelConfig",
        "adaptive": "sensorimotor.worldmodels.adaptive.config:AdaptiveModelConfig",
    },
)

AUGMENTATIONS = ("roll_x", "roll_y")


@dataclass
class WorldModelConfig:
    """A world-model config; ``type`` picks the concrete class from :data:`WORLD_MODELS`."""

    registry: ClassVar[Registry] = WORLD_MODELS
    type: str = ""


@dataclass
class CanvasModelConfig(WorldModelConfig):
    """The canvas world model: frames resized to ``frame_size`` laid out in ``slots`` slots with
    action-coloured separators, inpainted by a masked-autoencoder ViT."""

    type: str = "canvas"
    frame_size: list[int] | None = field(default_factory=lambda: [56, 56])  # [h, w]; null = native
    slots: int = 3  # context frames + the target
    separator_width: int = 14
    patch_size: int = 14
    width: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    decoder_width: int | None = None  # null = width
    decoder_depth: int | None = None  # null = depth
    decoder_heads: int | None = None  # null = heads
    norm_pix_loss: bool = False
    dtype: str = "float32"  # compute dtype (params stay float32); bfloat16 on GPU/TPU
    palette: list[list[int]] | None = None  # separator RGB per action; null = red, green, blue, ...

    def __post_init__(self) -> None:
        if self.frame_size is not None and (len(self.frame_size) != 2 or min(self.frame_size) < 1):
            raise ValueError(f"frame_size must be [height, width] or null, got {self.frame_size}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        if self.palette is not None:
            for colour in self.palette:
                if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
                    raise ValueError(f"palette colours must be [r, g, b] in 0..255, got {colour}")
            if len({tuple(c) for c in self.palette}) != len(self.palette):
                raise ValueError("palette colours must be distinct")


@dataclass
class CanvasTrainerConfig:
    """Optimiser, schedule, replay from recent history, checkpointing and logging of a canvas run."""

    lr: float = 3e-3  # peak learning rate (AdamW)
    min_lr: float = 1e-5  # learning rate at the end of the cosine decay
    warmup_steps: int = 100
    decay_steps: int | None = (
        None  # cosine length (online: iterations, batch: train steps); null = the run's steps
    )
    weight_decay: float = 0.05
    b1: float = 0.9
    b2: float = 0.95
    grad_clip: float | None = 1.0  # global-norm clip; null = none
    batch_size: int = 16  # the newest canvas + (batch_size - 1) drawn from the history
    history: int = 2000  # frames kept for replay (saved with checkpoints)
    switch_fraction: float = 0.5  # replayed canvases drawn among action switches (0 = uniform)
    normalizer_frames: int = 16  # frames seen before the input z-score is fitted, training starts
    skip_threshold: float = 1e-4  # no train step while the last prediction's MSE is below it
    augment: list[str] = field(default_factory=list)  # "roll_x", "roll_y" (shift every slot alike)
    # roll_x: canvases whose x roll brings what changed into the target onto a patch-column edge;
    # 0 = every roll uniform. seam_frame_share of those aim at the frame edge (where a move wraps
    # around), the rest at the frame's inner patch-column edges alike. See docs/worldmodels.md.
    seam_fraction: float = 0.0
    seam_frame_share: float = 1.0
    eval_batch_size: int = 64
    log_every: int = 10  # iterations per metrics line
    eval_every: int | None = 1000  # iterations between held-out evaluations; null = at the end only
    checkpoint_every: int | None = 1000  # iterations between checkpoints (and always at the end)
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.min_lr < 0:
            raise ValueError(f"lr must be > 0 and min_lr >= 0, got {self.lr}, {self.min_lr}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch_size and eval_batch_size must be >= 1")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.switch_fraction <= 1:
            raise ValueError(f"switch_fraction must be in [0, 1], got {self.switch_fraction}")
        if not 0 <= self.seam_fraction <= 1:
            raise ValueError(f"seam_fraction must be in [0, 1], got {self.seam_fraction}")
        if not 0 <= self.seam_frame_share <= 1:
            raise ValueError(f"seam_frame_share must be in [0, 1], got {self.seam_frame_share}")
        if self.normalizer_frames < 1:
            raise ValueError(f"normalizer_frames must be >= 1, got {self.normalizer_frames}")
        if self.normalizer_frames > self.history:
            raise ValueError(
                f"normalizer_frames ({self.normalizer_frames}) cannot exceed history ({self.history})"
            )
        if self.history < 3:
            raise ValueError(
                f"history must hold at least one canvas (>= 3 frames), got {self.history}"
            )
        unknown = sorted(set(self.augment) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(
                f"unknown augmentation {unknown[0]!r}; expected some of {list(AUGMENTATIONS)}"
            )
        for name in ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or null where allowed), got {value}")
