"""Training diagnostics: per-batch metrics to rotated JSONL, interval summaries, and the checks
``sensorimotor diagnose RUN_DIR`` runs on them.

Layout under a run directory::

    diagnostics/
      batches.jsonl        one line per train step: loss, lr, grad norm (total and per component),
      batches.1.jsonl ...  the batch's sample indices, the batch-average baseline (older files)
      summaries.jsonl      one line per interval: means, spreads, maxima, samples seen

The checks: **plateau** (the loss stopped falling over the last stretch), **gradient explosion**
(a gradient norm far above its recent median, or not finite) and **batch averaging** (the loss is
as high as predicting every sample's target as the batch's mean target: the model has learnt the
average, not the samples).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError

FOLDER = "diagnostics"


class DiagnosticsWriter:
    """Append per-batch records (rotating at ``max_bytes``, keeping ``keep`` old files) and a
    summary every ``interval`` records."""

    def __init__(
        self, run_dir: str | Path, interval: int = 50, max_bytes: int = 5_000_000, keep: int = 5
    ) -> None:
        self.folder = Path(run_dir) / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.interval, self.max_bytes, self.keep = interval, max_bytes, keep
        self.window: list[dict[str, Any]] = []
        self.seen: set[int] = set()

    def write(self, record: dict[str, Any]) -> None:
        """One train step's record (``step``, ``loss``, ``grad_norm``, ... and ``batch``)."""
        file = self.folder / "batches.jsonl"
        if file.exists() and file.stat().st_size > self.max_bytes:
            self._rotate(file)
        with file.open("a") as f:
            f.write(json.dumps(record, default=float) + "\n")
        self.seen.update(int(i) for i in record.get("batch", []))
        self.window.append(record)
        if len(self.window) >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Write the summary of the records since the last one."""
        if not self.window:
            return
        losses = np.array([r["loss"] for r in self.window], np.float64)
        norms = np.array([r.get("grad_norm", np.nan) for r in self.window], np.float64)
        summary = {
            "first_step": self.window[0]["step"],
            "last_step": self.window[-1]["step"],
            "loss_mean": float(losses.mean()),
            "loss_std": float(losses.std()),
            "grad_norm_mean": float(np.nanmean(norms)) if np.isfinite(norms).any() else None,
            "grad_norm_max": float(np.nanmax(norms)) if np.isfinite(norms).any() else None,
            "samples_seen": len(self.seen),
        }
        with (self.folder / "summaries.jsonl").open("a") as f:
            f.write(json.dumps(summary) + "\n")
        self.window = []

    def _rotate(self, file: Path) -> None:
        for i in range(self.keep - 1, 0, -1):
            older = self.folder / f"batches.{i}.jsonl"
            if older.exists():
                older.replace(self.folder / f"batches.{i + 1}.jsonl")
        file.replace(self.folder / "batches.1.jsonl")
        extra = self.folder / f"batches.{self.keep + 1}.jsonl"
        extra.unlink(missing_ok=True)


def batch_average_loss(targets: np.ndarray) -> float:
    """The MSE of predicting every target ``(B, h, w, 3)`` in [0, 1] as the batch's mean target."""
    targets = np.asarray(targets, np.float64)
    return float(((targets - targets.mean(axis=0, keepdims=True)) ** 2).mean())


def read_batches(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every per-batch record of a run, oldest first (rotated files included; torn lines skipped)."""
    folder = Path(run_dir) / FOLDER
    files = sorted(folder.glob("batches.*.jsonl"), key=lambda p: -int(p.name.split(".")[1]))
    files += [folder / "batches.jsonl"] if (folder / "batches.jsonl").exists() else []
    if not files:
        raise DataError(
            f"{run_dir}: no training diagnostics ({folder}/batches.jsonl); train with diagnostics on"
        )
    records = []
    for file in files:
        for line in file.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash
    return sorted(records, key=lambda r: r["step"])


@dataclass(frozen=True)
class Finding:
    """One flag raised by :func:`diagnose`."""

    check: str  # plateau | gradient_explosion | batch_averaging
    flagged: bool
    detail: str


def diagnose(
    records: list[dict[str, Any]],
    *,
    window: int = 50,
    plateau_tolerance: float = 0.01,
    explosion_factor: float = 10.0,
    averaging_ratio: float = 0.9,
) -> list[Finding]:
    """Run the three checks on per-batch records (see the module doc)."""
    if len(records) < 4:
        raise DataError(f"only {len(records)} train steps recorded; diagnostics need at least 4")
    losses = np.array([r["loss"] for r in records], np.float64)
    return [
        _plateau(losses, window, plateau_tolerance),
        _explosion(records, window, explosion_factor),
        _averaging(records, losses, window, averaging_ratio),
    ]


def _plateau(losses: np.ndarray, window: int, tolerance: float) -> Finding:
    tail = losses[-min(window, len(losses)) :]
    half = len(tail) // 2
    before, after = float(np.mean(tail[:half])), float(np.mean(tail[half:]))
    change = (before - after) / max(abs(before), 1e-12)
    flagged = change < tolerance
    return Finding(
        "plateau",
        flagged,
        f"loss {before:.3e} → {after:.3e} over the last {len(tail)} steps ({100 * change:+.2f} %; "
        f"a fall under {100 * tolerance:.0f} % is a plateau)",
    )


def _explosion(records: list[dict[str, Any]], window: int, factor: float) -> Finding:
    norms = np.array([r.get("grad_norm", np.nan) for r in records], np.float64)
    bad = [records[i]["step"] for i in np.flatnonzero(~np.isfinite(norms))]
    spikes = []
    for i in range(4, len(norms)):
        recent = norms[max(0, i - window) : i]
        recent = recent[np.isfinite(recent)]
        if recent.size and np.isfinite(norms[i]) and norms[i] > factor * np.median(recent):
            spikes.append((records[i]["step"], float(norms[i]), float(np.median(recent))))
    flagged = bool(bad or spikes)
    detail = "gradient norms stay within " + f"{factor:g}× their recent median"
    if flagged:
        parts = [f"non-finite at steps {bad[:5]}"] if bad else []
        parts += [f"step {s}: {n:.3g} vs median {m:.3g}" for s, n, m in spikes[:5]]
        detail = "; ".join(parts)
    return Finding("gradient_explosion", flagged, detail)


def _averaging(
    records: list[dict[str, Any]], losses: np.ndarray, window: int, ratio: float
) -> Finding:
    base = np.array([r.get("batch_average_loss", math.nan) for r in records], np.float64)
    tail = slice(-min(window, len(records)), None)
    if not np.isfinite(base[tail]).any():
        return Finding("batch_averaging", False, "no batch-average baseline recorded")
    loss, avg = float(np.mean(losses[tail])), float(np.nanmean(base[tail]))
    flagged = loss >= ratio * avg
    return Finding(
        "batch_averaging",
        flagged,
        f"loss {loss:.3e} vs predicting the batch's mean target {avg:.3e} "
        f"(flagged at ≥ {ratio:g}×)",
    )
