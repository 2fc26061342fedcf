"""World models that learn from interaction; today the canvas world model (an MAE ViT inpainting
the next frame on a canvas of recent frames and action separators).

Public names are re-exported lazily, e.g. ``from sensorimotor.worldmodels import CanvasWorldModel``.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "AdaptiveModelConfig": "adaptive.config",
    "AdaptiveWorldModel": "adaptive.model",
    "evaluate_adaptive": "adaptive.quality",
    "CanvasLayout": "canvas",
    "CanvasModelConfig": "config",
    "CanvasTrainerConfig": "config",
    "WorldModelConfig": "config",
    "FrameHistory": "history",
    "CanvasWorldModel": "model",
    "StepInfo": "online",
    "HeldOutSet": "quality",
    "evaluate_quality": "quality",
    "meets_target": "quality",
    "CanvasDataset": "sessions",
    "evaluate_dataset": "sessions",
    "read_session_frames": "sessions",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
