"""Config of the adaptive world model (``model=adaptive``): networks, losses and the online loop.

A plain (not frozen) dataclass like every ``model=...`` schema, because the config system builds it
from YAML + overrides and validates it in ``__post_init__``; nothing mutates it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sensorimotor.worldmodels.config import WorldModelConfig


@dataclass
class AdaptiveModelConfig(WorldModelConfig):
    """MAE encoder/decoder + an action-conditioned causal predictor per hierarchy level."""

    type: str = "adaptive"
    # --- the MAE (frames resized to frame_size, cut into patch_size patches)
    frame_size: list[int] | None = field(default_factory=lambda: [40, 40])  # [h, w]; null = native
    patch_size: int = 8
    width: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    decoder_width: int = 64
    decoder_depth: int = 1
    mask_ratio: list[float] = field(default_factory=lambda: [0.3, 0.85])  # drawn per step
    # --- the predictor
    history: int = 3  # frames (each with the action after it) in the predictor's context
    action_channels: list[str] | None = None  # null = every key of the discrete actions / Box dims
    action_ranges: list[list[float]] | None = (
        None  # [[lo, hi], ...] per channel; null = the space's
    )
    action_embed_dim: int = 64
    film_hidden: int = 128
    film_block_ids: list[int] = field(default_factory=lambda: [0, 2])
    predictor_width: int = 64
    predictor_depth: int = 3
    predictor_heads: int = 4
    max_tokens: int = 4096  # sequence cap: older tokens are clipped off
    delta: bool = True  # predict the change of the latent (next = last + delta)
    ensemble_heads: int = 4  # output heads; their disagreement is the uncertainty
    # --- losses
    patch_weight: float = 0.2
    latent_weight: float = 0.8
    action_weight: float = 1.0
    # Factor on the gradient the predictor's losses send into the MAE (which trains jointly on its
    # reconstruction): unscaled they are 5-40x larger and undo the reconstruction.
    encoder_grad_scale: float = 0.01
    bright_weight: float = 20.0  # pixel weight 1 + bright_weight * brightness in the pixel losses
    # --- the online loop
    # Reconstruction MSE / the frame's variance under which the robot acts: relative, so one
    # number means "sees well enough" for a dot on black (variance ~2e-3) and a camera (~5e-2).
    reconstruction_threshold: float = 0.5
    prediction_threshold: float = 1e-4  # prediction MSE above which the predictor trains
    level_patience: int = 200  # iterations under threshold before the next level is made
    max_levels: int = 2
    selector: Literal["uncertainty", "external"] = "uncertainty"  # external = the run's selector
    box_candidates: int = 8  # candidate actions scored per step for a continuous (Box) robot

    def __post_init__(self) -> None:
        if self.frame_size is not None and (len(self.frame_size) != 2 or min(self.frame_size) < 1):
            raise ValueError(f"frame_size must be [height, width] or null, got {self.frame_size}")
        ratio = self.mask_ratio
        if len(ratio) != 2 or not 0 <= ratio[0] <= ratio[1] < 1:
            raise ValueError(
                f"mask_ratio must be [min, max] with 0 <= min <= max < 1, got {self.mask_ratio}"
            )
        for name in (
            "history",
            "action_embed_dim",
            "film_hidden",
            "predictor_width",
            "predictor_heads",
            "ensemble_heads",
            "max_levels",
            "level_patience",
            "box_candidates",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.predictor_depth < 1:
            raise ValueError(f"predictor_depth must be >= 1, got {self.predictor_depth}")
        bad = [i for i in self.film_block_ids if not 0 <= i < self.predictor_depth]
        if bad:
            raise ValueError(
                f"film_block_ids {self.film_block_ids} must index predictor blocks "
                f"0..{self.predictor_depth - 1}; {bad[0]} does not"
            )
        if self.action_ranges is not None:
            for r in self.action_ranges:
                if len(r) != 2 or not r[0] < r[1]:
                    raise ValueError(
                        f"action_ranges entries must be [lo, hi] with lo < hi, got {r}"
                    )
        if self.max_tokens < 2:
            raise ValueError(f"max_tokens must be >= 2, got {self.max_tokens}")
        for name in (
            "bright_weight",
            "patch_weight",
            "latent_weight",
            "action_weight",
            "encoder_grad_scale",
            "reconstruction_threshold",
            "prediction_threshold",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
