"""Vision-language-action models: demonstrations, a ViT + instruction + proprio transformer with a
flow-matching (or MSE) action head over action chunks, and their processor."""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
