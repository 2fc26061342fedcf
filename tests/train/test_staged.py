"""Staged training: progressive splits as views, a full staged run with sweeps and a baseline,
Ctrl-C in a stage then --resume, and the report's sections."""

import json
import os
import shutil
import signal

import numpy as np
import pytest

from sensorimotor.cli import main
from sensorimotor.core.errors import DataError, UserError
from sensorimotor.robots.session import SessionReader, list_sessions, write_view
from sensorimotor.train.canvas import (
    find_splits,
    load_staged_config,
    make_splits,
    stage_sizes,
    train_staged,
)
from sensorimotor.train.canvas.staged_report import SECTIONS, final_report_name
from tests.conftest import record_session

TINY = [
    "model=canvas_tiny",
    "trainer=debug",
    "trainer.history=16",
    "trainer.normalizer_frames=4",
    "progress=false",
    "initial_size=12",
    "stage_samples_multiplier=2",
    "min_stage_steps=10",
    "eval_every=5",
    "checkpoint_every=5",
    "sweep.phase_a_trials=2",
    "sweep.phase_a_steps=3",
    "sweep.phase_b_top=1",
    "sweep.phase_b_seeds=1",
    "sweep.phase_b_steps=3",
]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("staged") / "sessions"
    return record_session(root, steps=30, seed=1, name="a", width=16, height=16, dot_radius=2)


def staged_config(tmp_path, session, *extra):
    return load_staged_config(
        [*TINY, f"root_session={session}", f"runs_root={tmp_path / 'runs'}", "name=s", *extra]
    )


def test_stage_sizes_double_up_to_the_whole_session():
    assert stage_sizes(100, 10) == [10, 20, 40, 80, 100]
    assert stage_sizes(80, 10) == [10, 20, 40, 80]
    assert stage_sizes(1001, 250) == [250, 500, 1001]  # no near copy of the 1000 stage
    assert stage_sizes(12, 10) == [12]  # ... and never fewer than one stage
    with pytest.raises(DataError, match="fewer than the initial size"):
        stage_sizes(8, 10)
    with pytest.raises(UserError, match=">= 6"):
        stage_sizes(100, 4)


def test_splits_are_views_of_the_root_session(tmp_path):
    root = record_session(tmp_path / "sessions", steps=44, name="r", width=16, height=16)
    splits = make_splits(root, initial_size=10, train_ratio=0.7)
    assert [(s.stage, s.size) for s in splits] == [(1, 10), (2, 20), (3, 45)]
    assert (
        splits[1].train.name == "r_stage2_train_20"
        and splits[1].validate.name == "r_stage2_validate_20"
    )
    full = SessionReader(root)
    for s in splits:
        train, val = SessionReader(s.train), SessionReader(s.validate)
        assert len(train) == round(0.7 * s.size) and len(train) + len(val) == s.size
        assert sorted(p.name for p in s.train.iterdir()) == ["metadata.json"]  # no frame copies
        np.testing.assert_array_equal(val.frame(0), full.frame(len(train)))
        np.testing.assert_array_equal(train.frames(), full.frames(stop=len(train)))
        assert (
            train.complete
            and val.action_indices().tolist() == full.action_indices()[len(train) : s.size].tolist()
        )
    assert find_splits(root) == splits
    assert {i.name: i.steps for i in list_sessions(tmp_path / "sessions")}[
        "r_stage3_validate_45"
    ] == 14
    assert make_splits(root, 10, 0.7) == splits  # again: the views are rewritten in place


def test_views_keep_the_session_safety_rules(tmp_path):
    root = record_session(tmp_path / "s", steps=12, name="r", width=16, height=16)
    view = write_view(root, "v", 2, 8)
    meta = json.loads((view / "metadata.json").read_text())
    for bad, message in [
        ({"of": "../r", "start": 0, "stop": 3}, "sibling"),
        ({"of": "r", "start": 5, "stop": 2}, "start < stop"),
        ({"of": "r", "start": 0, "stop": 99}, "has 13 steps"),
        ({"of": "v", "start": 0, "stop": 2}, "itself a view"),
        ({"of": "nope", "start": 0, "stop": 2}, "missing"),
    ]:
        (view / "metadata.json").write_text(json.dumps({**meta, "view": bad}))
        with pytest.raises(DataError, match=message):
            SessionReader(view)
    (view / "metadata.json").write_text(json.dumps(meta))
    os.symlink(root, root.parent / "link")
    (view / "metadata.json").write_text(
        json.dumps({**meta, "view": {**meta["view"], "of": "link"}})
    )
    with pytest.raises(DataError, match="symbolic link"):
        SessionReader(view)
    (view / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="not a view; not overwriting"):
        write_view(root, root.name, 0, 2)
    with pytest.raises(DataError, match="is a view"):
        write_view(view, "w", 0, 2)


def test_staged_run_with_sweeps_baseline_and_every_report_section(tmp_path, session):
    config = staged_config(tmp_path, session, "max_stages=2", "baseline=true")
    result = train_staged(config)
    assert result.stopped_by == "completed"
    run = result.run_dir
    progress = json.loads((run / "run0" / "progress.json").read_text())
    stages, baselines = progress["stages"], progress["baseline"]
    assert sorted(stages) == ["1", "2"] and sorted(baselines) == ["1", "2"]
    for r in stages.values():
        assert r["steps"] == r["budget"] and [s["kind"] for s in r["sweeps"]] == ["upfront"]
        assert r["sweep_steps"] == 2 * 3 + 1 * 3 and r["best_hybrid"] < np.inf
    assert all(b["sweeps"] == [] and b["sweep_steps"] == 0 for b in baselines.values())
    html = (run / final_report_name()).read_text()
    positions = [html.index(f"<h2>{s}</h2>") for s in SECTIONS]
    assert positions == sorted(positions)
    assert "data:image/png;base64" in html and "partial" not in html
    assert (run / "run0" / "stage2_report.html").is_file() and (
        run / "sweeps" / "sweeps.db"
    ).is_file()
    # --stage 2 --checkpoint: one stage from saved weights, into a new run
    again = staged_config(
        tmp_path,
        session,
        "stage=2",
        "upfront_sweep=false",
        f"checkpoint={run}/run0/stage1/best",
        "name=t",
    )
    assert list(
        json.loads((train_staged(again).run_dir / "run0" / "progress.json").read_text())["stages"]
    ) == ["2"]


def test_ctrl_c_in_a_stage_then_resume(tmp_path, session):
    config = staged_config(tmp_path, session, "max_stages=2", "upfront_sweep=false")

    def interrupt(chain, stage, check):
        if stage == 2 and check.step == 5 and not interrupt.done:
            interrupt.done = True
            os.kill(os.getpid(), signal.SIGINT)

    interrupt.done = False
    result = train_staged(config, callback=interrupt)
    assert result.stopped_by == "interrupt"
    run = result.run_dir
    assert "(partial: interrupted)" in (run / final_report_name()).read_text()
    progress = json.loads((run / "run0" / "progress.json").read_text())
    assert list(progress["stages"]) == ["1"]
    assert (run / "run0" / "stage2" / "checkpoints").is_dir()
    resumed = train_staged(config, resume=run)
    assert resumed.stopped_by == "completed"
    stage2 = json.loads((run / "run0" / "progress.json").read_text())["stages"]["2"]
    steps = [c["step"] for c in stage2["timeline"]]
    assert steps == sorted(set(steps)) and steps[0] == 5 and steps[-1] == stage2["budget"]
    assert "partial" not in (run / final_report_name()).read_text()


def test_cli_splits_staged_and_bad_input(tmp_path, session, capsys):
    copy = tmp_path / "sessions" / "toroidal_dot" / "c"
    shutil.copytree(session, copy)
    assert main(["canvas", "splits", str(copy), "--initial-size", "12"]) == 0
    assert (
        "stage 3: 31 observations: c_stage3_train_31, c_stage3_validate_31"
        in capsys.readouterr().out
    )
    args = [*TINY, f"runs_root={tmp_path / 'runs'}", "upfront_sweep=false", "min_stage_steps=5"]
    assert main(["canvas", "staged", "--root-session", str(copy), "--stage", "1", *args]) == 0
    assert "chain/stage 0/1: best hybrid loss" in capsys.readouterr().out
    assert main(["canvas", "staged", *args]) == 2  # no data
    assert "no data" in capsys.readouterr().err
    assert main(["canvas", "staged", "--root-session", str(copy), "--stage", "9", *args]) == 2
    assert main(["canvas", "staged", "--root-session", str(copy), "sweep.bogus=1"]) == 2
    assert main(["canvas", "splits", str(copy), "--train-ratio", "1.5"]) == 2
