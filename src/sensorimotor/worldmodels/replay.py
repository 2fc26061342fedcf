"""Replay from the recent history: which canvases an online train step uses, balanced sampling of
action switches, and (frame, action) pair keys (to drop held-out canvases seen in training)."""

from __future__ import annotations

from typing import Any

import numpy as np


def sample_balanced(
    rng: np.random.Generator, count: int, n: int, switch: np.ndarray | None, fraction: float
) -> np.ndarray:
    """``n`` indices into ``count`` candidates: ``round(fraction * n)`` of them drawn among those
    where ``switch`` is True (the canvas's last action differs from the one before), the rest
    uniformly.

    Selectors that hold actions for several steps make the last action predictable from the earlier
    ones; a model trained on such data leans on that and ignores the last separator. Drawing action
    switches more often takes that shortcut away. Without candidates of both kinds (or with
    ``fraction`` 0) the draw is uniform.
    """
    if switch is None or not fraction or not switch.any() or switch.all():
        return rng.integers(0, count, n)
    switches = np.flatnonzero(switch)
    m = int(round(fraction * n))
    return np.concatenate(
        [switches[rng.integers(0, len(switches), m)], rng.integers(0, count, n - m)]
    )


def pair_key(frame: np.ndarray, action: int) -> int:
    """A 64-bit key of a (frame, action) pair: identical frames under the same action collide."""
    import hashlib

    digest = hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=8)
    digest.update(int(action).to_bytes(4, "little", signed=True))
    return int.from_bytes(digest.digest(), "little")


def replay_ends(
    history: Any,
    newest: int,
    slots: int,
    batch_size: int,
    switch_fraction: float,
    rng: np.random.Generator,
) -> list[int]:
    """The end frames of one online train batch: ``newest`` plus ``batch_size - 1`` valid windows
    of ``slots`` frames drawn from ``history`` (balanced towards action switches, see
    :func:`sample_balanced`)."""
    ends = [newest]
    extra = batch_size - 1
    if extra:
        valid = history.valid_ends()
        switch = None
        if slots >= 3 and switch_fraction:
            cap = history.capacity
            acts = history.actions
            switch = acts[(valid - 1) % cap] != acts[(valid - 2) % cap]
        picks = sample_balanced(rng, len(valid), extra, switch, switch_fraction)
        ends += list(valid[picks])
    return [int(t) for t in ends]


def history_windows(
    history: Any, ends: list[int], slots: int, frame_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(B, slots, h, w, 3)`` uint8 and actions ``(B, slots)`` of the windows ending at ``ends``."""
    frames = np.empty((len(ends), slots, *frame_shape), np.uint8)
    acts = np.empty((len(ends), slots), np.int32)
    for i, t in enumerate(ends):
        frames[i], acts[i] = history.window(int(t), slots)
    return frames, acts
