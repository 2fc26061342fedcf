"""Which frame each discrete action starts at, from the action log or, without one, an even grid.

Both are anchored on the parquet data: the first frame where the controlled joint's commanded
target changes is where the first MOVE started. With a log, every other action's frame follows
from its timestamp relative to that MOVE (``frame = anchor + round((t - t_anchor) * fps)``), and
the parquet must agree: at every logged action the target changes by that action's delta, and
nowhere else. Without a log, actions are spaced ``frames_per_action`` apart around the anchor and
read off the target changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.data.lerobot.action_log import ActionLog

SIGNS = (0.0, 1.0, -1.0)
SNAP = 2  # frames a logged MOVE may sit away from where its timestamp puts it


@dataclass(frozen=True)
class ActionMapping:
    """Discrete action ``actions[k]`` starts at frame ``starts[k]`` (and lasts ``frames_per_action``)."""

    starts: np.ndarray  # int (K,)
    actions: np.ndarray  # int (K,) in 0..2
    frames_per_action: int
    method: str  # "log" or "even"


def target_steps(targets: np.ndarray, initial: float | None = None) -> np.ndarray:
    """Change of the commanded joint target at every frame; frame 0 against ``initial`` (the
    joint's measured position before the first command), or none without it."""
    targets = np.asarray(targets, np.float64)
    first = 0.0 if initial is None else targets[0] - initial
    return np.concatenate([[first], np.diff(targets)])


def first_move(targets: np.ndarray, initial: float, tolerance: float, where: str) -> int:
    """The first frame where the target changes by more than ``tolerance``."""
    moves = np.flatnonzero(np.abs(target_steps(targets, initial)) > tolerance)
    if len(moves) == 0:
        raise DataError(f"{where}: the joint's target never changes; nothing to anchor actions on")
    return int(moves[0])


def map_with_log(
    log: ActionLog, targets: np.ndarray, initial: float, fps: float, delta: float, where: str
) -> ActionMapping:
    """Frames of the logged actions, anchored on the first MOVE; checked against the parquet."""
    tol = 0.25 * delta
    codes = np.array([a["action"] for a in log.actions])
    times = np.array([a["t"] for a in log.actions], np.float64)
    moving = np.flatnonzero(codes != 0)
    if len(moving) == 0:
        raise DataError(f"{log.path}: the log has no MOVE action to anchor on")
    anchor_frame = first_move(targets, initial, tol, where)
    steps = target_steps(targets, initial)
    starts = _snap_moves(times, anchor_frame, codes, steps, fps, delta, tol)
    inside = (starts >= 0) & (starts < len(targets))
    if not inside[moving].all():
        k = int(moving[~inside[moving]][0])
        raise DataError(
            f"{log.path} disagrees with {where}: action {k} ({_name(codes[k])}) maps to frame "
            f"{starts[k]}, outside the episode's {len(targets)} frames"
        )
    for k in np.flatnonzero(inside):
        expected = SIGNS[codes[k]] * delta
        if abs(steps[starts[k]] - expected) > tol:
            raise DataError(
                f"{log.path} disagrees with {where}: action {k} is {_name(codes[k])} at frame "
                f"{starts[k]} (target change {expected:+g}) but the parquet's target changes by "
                f"{steps[starts[k]]:+g} there"
            )
    unexplained = set(np.flatnonzero(np.abs(steps) > tol)) - set(starts[inside].tolist())
    if unexplained:
        frame = min(unexplained)
        raise DataError(
            f"{log.path} disagrees with {where}: the parquet's target changes by "
            f"{steps[frame]:+g} at frame {frame}, where the log has no MOVE"
        )
    frames_per_action = int(
        log.header.get("frames_per_action") or round(log.header["action_duration"] * fps)
    )
    return ActionMapping(starts[inside], codes[inside], max(1, frames_per_action), "log")


def _snap_moves(
    times: np.ndarray,
    anchor: int,
    codes: np.ndarray,
    steps: np.ndarray,
    fps: float,
    delta: float,
    tol: float,
) -> np.ndarray:
    """Frames of the logged actions: ``anchor + (t - t_anchor) x rate``, each MOVE moved onto the
    target change it caused (within ±SNAP frames). ``rate`` starts at ``fps`` and is re-estimated
    from every matched MOVE: a real recording loop that runs a little slower or faster than its
    fps drifts against the wall-clock log."""
    elapsed = times - times[np.flatnonzero(codes != 0)[0]]
    starts = np.zeros(len(codes), np.int64)
    rate = float(fps)
    for k, code in enumerate(codes):
        starts[k] = anchor + round(elapsed[k] * rate)
        if code == 0:
            continue
        expected = SIGNS[code] * delta
        for shift in sorted(range(-SNAP, SNAP + 1), key=abs):
            frame = starts[k] + shift
            if 0 <= frame < len(steps) and abs(steps[frame] - expected) <= tol:
                starts[k] = frame
                if elapsed[k] > 0:
                    rate = (frame - anchor) / elapsed[k]
                break
    return starts


def map_evenly(
    targets: np.ndarray, initial: float, frames_per_action: int, delta: float, where: str
) -> ActionMapping:
    """Actions every ``frames_per_action`` frames on a grid through the first MOVE, read off the targets."""
    tol = 0.25 * delta
    anchor = first_move(targets, initial, tol, where)
    # only whole actions: each needs the frame it ends at (the next step's observation)
    starts = np.arange(
        anchor % frames_per_action, len(targets) - frames_per_action, frames_per_action
    )
    steps = target_steps(targets, initial)[starts]
    actions = np.where(steps > tol, 1, np.where(steps < -tol, 2, 0))
    return ActionMapping(starts, actions, frames_per_action, "even")


def infer_delta(targets: np.ndarray, initial: float) -> float:
    """The typical MOVE size: the median of the non-zero target changes."""
    steps = np.abs(target_steps(targets, initial))
    if steps.max(initial=0.0) <= 1e-6:
        return 0.0
    moves = steps[steps > 0.1 * steps.max()]  # ignore the settling noise of frame 0
    return float(np.median(moves))


def _name(code: int) -> str:
    return ("STAY", "MOVE+", "MOVE-")[int(code)]
