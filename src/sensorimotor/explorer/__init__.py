"""The explorer web app (``sensorimotor explore``): browse sessions, run, train and evaluate world
models on them, and look inside. A plain-Python logic layer (tested without Gradio) under a thin
Gradio app; world models plug in their tabs through :mod:`sensorimotor.explorer.views`.

Public names are re-exported lazily, e.g. ``from sensorimotor.explorer import CanvasExplorer``.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "build_app": "app",
    "launch": "app",
    "CanvasExplorer": "canvas",
    "list_checkpoints": "checkpoints",
    "load_checkpoint": "checkpoints",
    "save_checkpoint": "checkpoints",
    "diagnose": "diagnostics",
    "Roots": "roots",
    "ModelKind": "views",
    "View": "views",
    "register_kind": "views",
    "evaluate_session": "training",
    "train_batches": "training",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
