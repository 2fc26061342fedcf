"""World-layer data: HDF5 pytrees and motion clips (format, modes, datasets).

Public names are re-exported lazily, e.g. ``from sensorimotor.data import read_clip, ClipDataset``.
Making clips (MuJoCo rodent + intention VAE) lives in :mod:`sensorimotor.sequence.clipgen`.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "load_tree": "h5tree",
    "group_to_tree": "h5tree",
    "tree_to_group": "h5tree",
    "ClipDataset": "clips.datasets",
    "make_dataset": "clips.datasets",
    "split_clips": "clips.datasets",
    "Clip": "clips.format",
    "clip_paths": "clips.format",
    "read_clip": "clips.format",
    "write_clip": "clips.format",
    "ClipDataConfig": "clips.modes",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
