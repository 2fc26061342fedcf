"""Metrics tracking: always ``metrics.jsonl`` in the run directory, optionally mirrored to W&B."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.errors import DataError, UserError
from sensorimotor.core.rundir import RunDir

WandbMode = Literal["off", "auto", "online", "offline"]


class Tracker:
    """Appends one JSON line per :meth:`log` call; mirrors to Weights & Biases when asked.

    Each line holds ``step``, ``time`` (seconds of the run so far) and the metrics. Opening a
    tracker on a run that already has metrics (a resumed run) continues ``time`` from the last
    complete line, so the column counts the run's working time across resumes; a last line torn
    by a crash is dropped first. ``resume_step`` (the step of the checkpoint a run resumes from)
    drops the lines logged after it, which the resumed run logs again, so curves never double back.

    ``wandb="auto"`` uses W&B when it is installed: online with an API key, offline without one.
    ``WANDB_MODE=disabled`` in the environment turns the mirror off whatever the setting.
    """

    def __init__(
        self,
        run_dir: RunDir | str | Path,
        wandb: WandbMode = "off",
        project: str = "sensorimotor",
        config: Any = None,
        resume_step: int | None = None,
    ) -> None:
        self.path = (
            run_dir.metrics_path if isinstance(run_dir, RunDir) else Path(run_dir) / "metrics.jsonl"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            _drop_after(self.path, resume_step)
        self._start = time.time() - _reopen_point(self.path)
        self._file = self.path.open("a", buffering=1)
        self._wandb_run = _start_wandb(wandb, project, self.path.parent, config)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        """Record ``metrics`` at ``step`` (numbers are stored as floats; NaN/Inf as strings)."""
        record: dict[str, Any] = {"step": int(step), "time": round(time.time() - self._start, 4)}
        for key, value in metrics.items():
            record[key] = _json_number(value)
        self._file.write(json.dumps(record) + "\n")
        if self._wandb_run is not None:
            self._wandb_run.log({k: v for k, v in metrics.items()}, step=int(step))

    def close(self) -> None:
        """Flush and close the file and the W&B run."""
        if not self._file.closed:
            self._file.close()
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_after(path: Path, step: int) -> None:
    """Rewrite ``path`` (atomically) without the lines logged after ``step``."""
    if not path.is_file():
        return
    lines = path.read_bytes().splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            logged = json.loads(line).get("step")
        except (ValueError, AttributeError):
            logged = None  # a torn line: _reopen_point deals with it
        if isinstance(logged, int) and logged > step:
            continue
        kept.append(line)
    if len(kept) == len(lines):
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(b"".join(kept))
    os.replace(tmp, path)


def _reopen_point(path: Path, tail_bytes: int = 65536) -> float:
    """Prepare ``path`` for appending; return the ``time`` of its last complete line (0 if none).

    A line torn by a crash (no final newline) is cut off, so that the next line does not glue
    onto it and turn it into a corrupt line in the middle of the file.
    """
    if not path.is_file():
        return 0.0
    with path.open("r+b") as f:
        size = f.seek(0, os.SEEK_END)
        start = f.seek(max(0, size - tail_bytes))
        tail = f.read()
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1
            if cut or start == 0:
                f.truncate(start + cut)
                tail = tail[:cut]
    for line in reversed(tail.splitlines()):
        try:
            value = json.loads(line).get("time")
        except (ValueError, AttributeError):
            continue  # the cut first line of the tail
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def _json_number(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if math.isfinite(number):
        return int(number) if isinstance(value, int) and not isinstance(value, bool) else number
    return str(number)


def _start_wandb(mode: WandbMode, project: str, run_path: Path, config: Any) -> Any:
    if mode == "off" or os.environ.get("WANDB_MODE") == "disabled":
        return None
    try:
        import wandb
    except ImportError:
        if mode == "auto":
            return None
        raise UserError(
            "tracking.wandb is on but wandb is not installed: pip install -e '.[tracking]'"
        ) from None
    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return wandb.init(
        project=project,
        name=run_path.name,
        dir=str(run_path),
        mode=mode,
        config=config_to_dict(config) if config is not None else None,
    )


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: metrics file not found")
    records = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise DataError(f"{path}: line {i + 1} is not valid JSON: {line[:80]!r}") from None
    return records
