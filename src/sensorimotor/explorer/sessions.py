"""The Sessions tab's logic: robot types and sessions under a root, metadata, action tables, frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.robots.interface import Box, jsonable
from sensorimotor.robots.session import SessionInfo, SessionReader, list_sessions


def robot_types(root: str | Path) -> list[str]:
    """Every robot type (folder) with at least one session under ``root``."""
    return sorted({s.robot_type for s in list_sessions(root)})


def sessions_of(root: str | Path, robot_type: str) -> list[SessionInfo]:
    """The sessions of one robot type, oldest first (unreadable ones marked ``corrupt``)."""
    return list_sessions(root, robot_type)


def open_session(path: str | Path) -> SessionReader:
    """A session reader; any damage (missing or corrupt files) is a :class:`DataError` naming it."""
    reader = SessionReader(path)
    if len(reader) == 0:
        raise DataError(f"{reader.path}: the session has no steps (nothing was recorded)")
    return reader


def session_summary(reader: SessionReader) -> dict[str, Any]:
    """What the metadata panel shows."""
    meta = reader.metadata
    return {
        "path": str(reader.path),
        "robot_type": reader.robot_type,
        "steps": len(reader),
        "complete": reader.complete,
        "cameras": reader.image_keys,
        "start_time": meta.get("start_time"),
        "end_time": meta.get("end_time"),
        "action_space": jsonable(reader.action_space),
        "robot_config": meta.get("robot_config", {}),
    }


def action_label(action: Any) -> str:
    """A short readable label of an action dict."""
    return json.dumps(jsonable(action), sort_keys=True)


@dataclass(frozen=True)
class ActionRow:
    """One row of the action distribution table."""

    index: int
    action: str
    count: int
    percent: float
    count_all: int
    percent_all: float


def action_counts(reader: SessionReader) -> np.ndarray:
    """How often each discrete action was taken in a session ``(A,)``."""
    if isinstance(reader.action_space, Box):
        raise DataError(f"{reader.path}: continuous actions have no distribution table")
    indices = reader.action_indices()
    return np.bincount(indices[indices >= 0], minlength=len(reader.action_space))


def action_table(
    reader: SessionReader, others: list[SessionReader]
) -> tuple[list[ActionRow], list[str]]:
    """Counts and percentages per action in this session and in all sessions of its robot type
    (``others`` includes or excludes this one; it is counted once). Sessions with another action
    space are skipped and named in the returned notes."""
    mine = action_counts(reader)
    total = np.zeros_like(mine)
    notes = []
    seen = {reader.path.resolve()}
    total += mine
    for other in others:
        if other.path.resolve() in seen:
            continue
        seen.add(other.path.resolve())
        if jsonable(other.action_space) != jsonable(reader.action_space):
            notes.append(f"{other.path}: another action space, not counted")
            continue
        total += action_counts(other)
    rows = [
        ActionRow(
            i,
            action_label(a),
            int(mine[i]),
            _percent(mine[i], mine.sum()),
            int(total[i]),
            _percent(total[i], total.sum()),
        )
        for i, a in enumerate(reader.action_space)
    ]
    return rows, notes


def _percent(count: int, total: int) -> float:
    return round(100.0 * float(count) / float(total), 2) if total else 0.0


def readable_sessions(root: str | Path, robot_type: str) -> tuple[list[SessionReader], list[str]]:
    """Readers of every readable session of a robot type and notes on the ones that are not."""
    readers, notes = [], []
    for info in sessions_of(root, robot_type):
        try:
            readers.append(SessionReader(info.path))
        except DataError as e:
            notes.append(str(e))
    return readers, notes


def frame_images(reader: SessionReader, index: int) -> dict[str, np.ndarray]:
    """Every camera image of step ``index`` as ``(H, W, 3)`` uint8 (grey and RGBA converted)."""
    if not 0 <= index < len(reader):
        raise DataError(f"{reader.path}: frame {index} is outside 0-{len(reader) - 1}")
    return {key: as_rgb(reader.frame(index, key)) for key in reader.image_keys}


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An image as ``(H, W, 3)`` uint8 for display."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[-1] == 4:
        image = image[..., :3]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype != np.uint8:
        image = np.clip(image * (255 if image.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    return image
