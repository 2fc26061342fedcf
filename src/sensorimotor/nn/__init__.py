"""Neural-network building blocks (Flax NNX). Knows nothing of robots or data.

Public names are re-exported lazily, e.g. ``from sensorimotor.nn import MLP, MaskedAutoencoderViT``.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "Schedule": "diffusion",
    "Support": "distributional",
    "symexp": "distributional",
    "symlog": "distributional",
    "Ensemble": "ensemble",
    "FiLM": "film",
    "MambaStack": "mamba",
    "MLP": "mlp",
    "S5Stack": "s5",
    "simnorm": "simnorm",
    "Transformer": "transformer",
    "TransformerBlock": "transformer",
    "MAEConfig": "vit",
    "MaskedAutoencoderViT": "vit",
    "patchify": "vit",
    "unpatchify": "vit",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
