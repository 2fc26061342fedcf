"""Training diagnostics: the three checks on hand-made records, rotation, and a real recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensorimotor.core.errors import DataError
from sensorimotor.explorer.diagnostics import (
    DiagnosticsWriter,
    batch_average_loss,
    diagnose,
    read_batches,
)


def _records(losses, norms=None, baseline=1.0):
    norms = norms if norms is not None else [1.0] * len(losses)
    return [
        {"step": i, "loss": float(x), "grad_norm": float(g), "batch_average_loss": baseline}
        for i, (x, g) in enumerate(zip(losses, norms, strict=True))
    ]


def _flags(records, **kw) -> dict[str, bool]:
    return {f.check: f.flagged for f in diagnose(records, **kw)}


def test_healthy_run_is_not_flagged() -> None:
    losses = np.exp(-np.arange(100) / 30)  # still falling, far below the batch average
    assert _flags(_records(losses)) == {
        "plateau": False,
        "gradient_explosion": False,
        "batch_averaging": False,
    }


def test_plateau_explosion_and_averaging_are_flagged() -> None:
    flat = np.full(100, 0.5)
    assert _flags(_records(flat, baseline=0.9))["plateau"]
    norms = [1.0] * 100
    norms[70] = 50.0
    assert _flags(_records(np.exp(-np.arange(100) / 30), norms))["gradient_explosion"]
    norms[70] = float("nan")
    assert _flags(_records(np.exp(-np.arange(100) / 30), norms))["gradient_explosion"]
    averaging = np.linspace(0.30, 0.20, 100)  # falling, but as bad as the batch mean (0.21)
    assert _flags(_records(averaging, baseline=0.21))["batch_averaging"]
    with pytest.raises(DataError):
        diagnose(_records([1.0, 0.5]))


def test_batch_average_loss_known_answer() -> None:
    targets = np.stack([np.zeros((2, 2, 3)), np.ones((2, 2, 3))])
    assert batch_average_loss(targets) == pytest.approx(0.25)


def test_rotation_and_summaries(tmp_path) -> None:
    writer = DiagnosticsWriter(tmp_path, interval=10, max_bytes=400, keep=2)
    for i in range(40):
        writer.write({"step": i, "loss": 1.0 / (i + 1), "grad_norm": 1.0, "batch": [i, i + 1]})
    writer.flush()
    folder = tmp_path / "diagnostics"
    assert (folder / "batches.1.jsonl").exists() and not (folder / "batches.3.jsonl").exists()
    summaries = [json.loads(x) for x in (folder / "summaries.jsonl").read_text().splitlines()]
    assert [s["last_step"] for s in summaries] == [9, 19, 29, 39]
    assert summaries[-1]["samples_seen"] == 41
    steps = [r["step"] for r in read_batches(tmp_path)]
    assert steps == sorted(steps) and steps[-1] == 39  # oldest rotated-out files may be gone
    with pytest.raises(DataError, match="no training diagnostics"):
        read_batches(tmp_path / "elsewhere")


def test_explorer_records_and_diagnose_cli(roots, capsys) -> None:
    from sensorimotor.cli import main
    from sensorimotor.explorer.canvas import CanvasExplorer
    from sensorimotor.explorer.training import train_batches

    ex = CanvasExplorer(roots, "diag", "canvas_tiny", "debug")
    ex.open_session(roots.sessions / "toroidal_dot" / "a")
    ex.new_model()
    list(train_batches(ex, 12, diagnostics=True))
    run_dir = roots.runs / "explore-diag-diagnostics"
    records = read_batches(run_dir)
    assert [r["step"] for r in records] == list(range(12))
    assert set(records[0]["grad_norms"]) >= {"attention", "mlp", "embeddings"}
    assert len(records[0]["batch"]) == ex.model.trainer.batch_size
    code = main(["diagnose", str(run_dir), "--window", "12"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "plateau" in out and "gradient norm per component" in out
