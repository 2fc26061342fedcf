"""Small filesystem helpers: atomic JSON writes, never-colliding folders, live-process checks."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from sensorimotor.core.errors import UserError


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and a rename (never half-written)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def make_unique_dir(parent: Path, base: str) -> Path:
    """Create ``parent/base`` or, when taken, ``base-2``, ``base-3``, ... (atomic, so concurrent
    callers always get different folders)."""
    if not base or "/" in base or base in (".", ".."):
        raise UserError(f"bad name {base!r}: expected a plain folder name")
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        path = parent / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free folder name for {parent / base}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
