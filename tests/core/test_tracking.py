import json
import math

import pytest

from sensorimotor.core.errors import DataError
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import Tracker, read_metrics


def test_log_appends_json_lines(tmp_path):
    run = RunDir.create(tmp_path, name="t")
    with Tracker(run) as tracker:
        tracker.log({"loss": 1.5, "count": 3}, step=0)
        tracker.log({"loss": float("nan"), "lr": 1e-3}, step=1)
    records = read_metrics(run.path)
    assert [r["step"] for r in records] == [0, 1]
    assert records[0]["loss"] == 1.5 and records[0]["count"] == 3
    assert records[1]["loss"] == "nan" and math.isclose(records[1]["lr"], 1e-3)


def test_read_metrics_skips_a_torn_last_line_but_not_a_corrupt_middle(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 0}) + "\n" + '{"step": 1, "lo')
    assert read_metrics(path) == [{"step": 0}]
    path.write_text('{"bad\n' + json.dumps({"step": 0}) + "\n")
    with pytest.raises(DataError, match="line 1"):
        read_metrics(path)
    with pytest.raises(DataError, match="not found"):
        read_metrics(tmp_path / "nope.jsonl")


def test_wandb_disabled_by_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    tracker = Tracker(tmp_path, wandb="online")
    assert tracker._wandb_run is None
    tracker.close()


def test_wandb_offline_mirror(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = Tracker(tmp_path, wandb="auto", config={"lr": 0.1})
    assert tracker._wandb_run is not None
    tracker.log({"loss": 2.0}, step=1)
    tracker.close()
    assert any((tmp_path / "wandb").glob("offline-run-*"))
    assert read_metrics(tmp_path)[0]["loss"] == 2.0


def test_reopened_tracker_continues_time_and_drops_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 0, "time": 120.0}) + "\n" + '{"step": 1, "ti')
    with Tracker(tmp_path) as tracker:
        tracker.log({"loss": 0.5}, step=2)
    records = read_metrics(path)
    assert [r["step"] for r in records] == [0, 2]
    assert 120.0 <= records[1]["time"] < 180.0


def test_new_tracker_starts_time_at_zero(tmp_path):
    with Tracker(tmp_path) as tracker:
        tracker.log({"loss": 0.5}, step=0)
    assert read_metrics(tmp_path / "metrics.jsonl")[0]["time"] < 60.0
