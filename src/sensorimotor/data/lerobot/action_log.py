"""The ``simple_joint`` policy's discrete action logs (``meta/discrete_action_logs/*.jsonl``).

Line 1 is a header with every recording parameter (joint_name, position_delta, action_duration,
fps, mode, ...); each further line is one discrete action: ``index``, ``action`` (0 stay, 1 +delta,
2 -delta), wall-clock ``t`` and the loop ``frame`` it started at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorimotor.core.errors import DataError

FORMAT = "simple_joint_action_log"
_HEADER_KEYS = ("joint_name", "position_delta", "action_duration", "fps")


@dataclass(frozen=True)
class ActionLog:
    """One episode's log: the header and the actions (``action``, ``t``, ``frame``) in order."""

    path: Path
    header: dict[str, Any]
    actions: list[dict[str, Any]]


def read_action_log(path: Path) -> ActionLog:
    """Parse and check one log; a :class:`DataError` naming the file and line on bad content."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path}: empty action log")
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {number} is not JSON ({e})") from None
    header, actions = records[0], records[1:]
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise DataError(f"{path}: line 1 must be the {FORMAT} header, got {header}")
    missing = [k for k in _HEADER_KEYS if k not in header]
    if missing:
        raise DataError(f"{path}: header lacks {missing}")
    for number, record in enumerate(actions, start=2):
        if record.get("type") != "action" or record.get("action") not in (0, 1, 2):
            raise DataError(f"{path}: line {number} is not an action 0/1/2: {record}")
        if not isinstance(record.get("t"), int | float):
            raise DataError(f"{path}: line {number} has no numeric timestamp 't': {record}")
    if not actions:
        raise DataError(f"{path}: the log has a header but no actions")
    return ActionLog(path, header, actions)


def write_action_log(path: Path, header: dict[str, Any], actions: list[dict[str, Any]]) -> None:
    """Write a log in the policy's format (used by the exporter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"type": "header", "format": FORMAT, "version": 1, **header}]
    lines += [{"type": "action", **a} for a in actions]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
