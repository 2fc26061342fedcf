"""VLA model configuration: a frozen dataclass and the variant table (debug / base / large)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from sensorimotor.core.errors import ConfigError

#: Architecture of each named variant; anything else keeps the dataclass default.
VARIANTS: dict[str, dict[str, object]] = {
    # Seconds per step on a laptop CPU.
    "debug": {"width": 128, "depth": 4, "heads": 4, "vit_width": 128, "vit_depth": 1},
    # ~0.2 M parameters on 12-px patches (16 per camera at 48 px, 57 tokens in all): ~1/5 of the
    # debug step's FLOPs; the setting trained for the success rates in docs/vla.md on a 2-core CPU.
    "small": {
        "width": 64,
        "depth": 3,
        "heads": 4,
        "vit_width": 64,
        "vit_depth": 1,
        "vit_heads": 4,
        "patch_size": 12,
    },
    # ~25 M parameters: 512 wide, 6 backbone layers (+ a 2-layer ViT), GELU.
    "base": {
        "width": 512,
        "depth": 6,
        "heads": 8,
        "vit_width": 512,
        "vit_depth": 2,
        "vit_heads": 8,
    },
    # ~1.2 B parameters: 2048 wide, 24 layers, 32 heads, SwiGLU (a 4-layer 768-wide ViT).
    "large": {
        "width": 2048,
        "depth": 24,
        "heads": 32,
        "mlp": "swiglu",
        "mlp_ratio": 8 / 3,
        "vit_width": 768,
        "vit_depth": 4,
        "vit_heads": 12,
        "head": "flow",
    },
}


@dataclass(frozen=True)
class VLAConfig:
    """Sizes of one VLA: the ViT over each camera's patches, the backbone transformer over
    ``[image tokens | instruction tokens | proprio token | action tokens]``, the action head."""

    variant: str = "debug"
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp: Literal["gelu", "swiglu"] = "gelu"
    mlp_ratio: float = 4.0
    vit_width: int = 128
    vit_depth: int = 1
    vit_heads: int = 4
    patch_size: int = 8
    image_size: int = 48
    cameras: tuple[str, ...] = ("workspace", "left_wrist_cam")
    max_text_tokens: int = 16
    state_dim: int = 12
    action_dim: int = 12
    horizon: int = 8
    head: Literal["flow", "mse"] = "flow"
    flow_steps: int = 10
    dtype: Literal["float32", "bfloat16"] = "float32"
    #: A local checkpoint to start from (the extension point for pretrained weights).
    pretrained: str | None = None

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ConfigError(
                f"model.image_size {self.image_size} must be a multiple of model.patch_size "
                f"{self.patch_size}"
            )
        for name, width, heads in (
            ("width", self.width, self.heads),
            ("vit_width", self.vit_width, self.vit_heads),
        ):
            if width % heads:
                raise ConfigError(f"model.{name} {width} must be divisible by its heads {heads}")
        if self.horizon < 1 or self.flow_steps < 1 or not self.cameras:
            raise ConfigError(
                f"model.horizon and model.flow_steps must be >= 1 and model.cameras non-empty; "
                f"got {self.horizon}, {self.flow_steps}, {list(self.cameras)}"
            )

    @property
    def patches_per_camera(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        """Backbone sequence length."""
        return len(self.cameras) * self.patches_per_camera + self.max_text_tokens + 1 + self.horizon

    @classmethod
    def from_variant(cls, variant: str, **overrides: object) -> VLAConfig:
        """The named variant with ``overrides`` (e.g. ``image_size=32``)."""
        if variant not in VARIANTS:
            raise ConfigError(f"unknown VLA variant {variant!r}; expected one of {list(VARIANTS)}")
        return cls(variant=variant, **{**VARIANTS[variant], **overrides})  # type: ignore[arg-type]

    def with_(self, **changes: object) -> VLAConfig:
        """A copy with ``changes``."""
        return replace(self, **changes)  # type: ignore[arg-type]
