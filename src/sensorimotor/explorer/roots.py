"""The folders the explorer reads and writes, the only ones it serves files from, and its instance id."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sensorimotor.core.errors import UserError


@dataclass(frozen=True)
class Roots:
    """``sessions``: recorded sessions (``<robot_type>/<name>/``); ``runs``: run directories,
    where explorer checkpoints go too."""

    sessions: Path
    runs: Path

    @classmethod
    def under(cls, root: str | Path) -> Roots:
        """The usual layout below one folder: ``saved/sessions`` and ``runs``."""
        root = Path(root)
        return cls(root / "saved" / "sessions", root / "runs")

    def allowed(self) -> list[str]:
        """The folders Gradio may serve files from (absolute)."""
        return [str(self.sessions.resolve()), str(self.runs.resolve())]

    def check(self, path: str | Path, which: str = "any") -> Path:
        """``path`` resolved, if it lies inside a root (``which``: sessions, runs or any); a request
        for anything else is refused with a :class:`UserError`."""
        resolved = Path(path).resolve()
        roots = {"sessions": [self.sessions], "runs": [self.runs]}.get(
            which, [self.sessions, self.runs]
        )
        for root in roots:
            if resolved.is_relative_to(root.resolve()):
                return resolved
        raise UserError(
            f"{path} is outside the explorer's {which if which != 'any' else ''} roots "
            f"{[str(r) for r in roots]}; refusing to open it"
        )


def instance_id() -> str:
    """A short id unique to this explorer process and instance (checkpoint names carry it, so two
    explorers never overwrite each other's files)."""
    return f"{os.getpid()}{secrets.token_hex(2)}"
