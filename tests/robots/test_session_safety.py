"""Sessions never reach outside their folder: name resolution, deletion, frame references, bad files."""

import json
import os

import numpy as np
import pytest

from sensorimotor.cli import main
from sensorimotor.core.errors import DataError, UserError
from sensorimotor.robots.recording import RecordingRobot
from sensorimotor.robots.session import (
    SessionReader,
    delete_session,
    find_session,
    list_sessions,
)
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot


def record(root, name, steps=4, **kwargs):
    robot = ToroidalDotRobot(ToroidalDotConfig(seed=0))
    recorder = RecordingRobot(robot, root, session_name=name, async_writes=False, **kwargs)
    for _ in range(steps):
        recorder.get_observation()
        recorder.execute_action({"action": 1})
    recorder.cleanup()
    return recorder.session_path


def lines(path):
    return [json.loads(line) for line in (path / "steps.jsonl").read_text().splitlines()]


def write_lines(path, records):
    (path / "steps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def sessions(tmp_path, monkeypatch):
    """A sessions root with one session, the working directory elsewhere, and a precious folder."""
    root = tmp_path / "root"
    session = record(root, "s1")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    precious = tmp_path / "precious"  # e.g. a checkpoint step folder: it has a metadata.json
    precious.mkdir()
    (precious / "metadata.json").write_text('{"step": 3}')
    (precious / "steps.jsonl").write_text("")
    return root, session, precious


def test_delete_refuses_folders_outside_the_root_that_are_not_sessions(sessions):
    root, _, precious = sessions
    for name in (
        str(precious),
        "../precious",
        "toroidal_dot/../../precious",
        f"{root}/toroidal_dot/../../precious",
    ):
        assert main(["sessions", "--root", str(root), "delete", name, "--yes"]) == 2, name
        assert (precious / "metadata.json").exists(), name
    with pytest.raises(UserError, match="does not look like a session"):
        delete_session(precious, root)


def test_bare_name_resolves_only_under_the_root(sessions, tmp_path):
    root, session, _ = sessions
    mine = tmp_path / "work" / "s2"  # the user's own folder named like a session
    mine.mkdir()
    (mine / "metadata.json").write_text("{}")
    assert main(["sessions", "--root", str(root), "delete", "s2", "--yes"]) == 2
    assert mine.exists()
    with pytest.raises(UserError, match="not found under"):
        find_session("s2", root)
    (tmp_path / "work" / "s1").mkdir()  # a ./s1 never shadows the session s1 under the root
    assert find_session("s1", root) == session


def test_session_names_are_not_patterns(sessions):
    root, session, _ = sessions
    for pattern in ("*", "s?", "[s]1", "toroidal_dot/*"):
        assert main(["sessions", "--root", str(root), "delete", pattern, "--yes"]) == 2
    assert session.exists()
    assert main(["sessions", "--root", str(root), "delete", "s1", "--yes"]) == 0
    assert not session.exists()


def test_symlinked_sessions_are_refused(sessions, tmp_path):
    root, session, _ = sessions
    link = root / "toroidal_dot" / "alias"
    link.symlink_to(session, target_is_directory=True)
    with pytest.raises(UserError, match="symbolic link"):
        find_session("alias", root)
    with pytest.raises(UserError, match="symbolic link"):
        delete_session(link, root)
    assert (session / "metadata.json").exists()


def test_an_explicit_path_must_be_a_real_session(sessions, tmp_path):
    root, session, precious = sessions
    assert find_session(str(session), root) == session
    with pytest.raises(UserError, match="not a readable session"):
        find_session(str(precious), root)


def test_frame_references_are_confined_to_the_session(sessions, tmp_path):
    root, session, _ = sessions
    secret = tmp_path / "secret.npy"
    np.save(secret, np.arange(100))
    records = lines(session)
    good = records[0]["frames"]["image"]
    for reference in (
        str(secret),
        "../../../secret.npy",
        ["../../../secret.npy", 0, 10],
        [str(secret), 0, 10],
    ):
        records[0]["frames"]["image"] = reference
        write_lines(session, records)
        with pytest.raises(DataError, match="outside the session folder|leaves the session"):
            SessionReader(session).frame(0)
    (session / "frames" / "link.npypack").symlink_to(secret)
    records[0]["frames"]["image"] = ["frames/link.npypack", 0, 10]
    write_lines(session, records)
    with pytest.raises(DataError, match="symbolic link"):
        SessionReader(session).frame(0)
    records[0]["frames"]["image"] = [good[0], good[1], 10**12]  # a crafted length
    write_lines(session, records)
    with pytest.raises(DataError, match="truncated"):
        SessionReader(session).frame(0)


def test_a_cut_steps_file_of_a_closed_session_is_reported(tmp_path, capsys):
    session = record(tmp_path, "cut", steps=10)
    write_lines(session, lines(session)[:5])
    reader = SessionReader(session)
    assert len(reader) == 5 and not reader.complete and reader.missing_steps == 5
    [info] = list_sessions(tmp_path)
    assert info.status == "truncated (5 of 10 steps)"
    assert main(["sessions", "--root", str(tmp_path), "show", "cut"]) == 0
    assert "truncated (5 of 10 steps)" in capsys.readouterr().out
    assert main(["sessions", "--root", str(tmp_path), "show", "cut", "--check"]) == 2
    assert "cut short" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage, message",
    [
        ("non_utf8_metadata", "not UTF-8"),
        ("bad_action_space", "bad 'action_space'"),
        ("bad_robot_type", "'robot_type' must be a string"),
        ("string_time", "'t' must be a number"),
        ("list_frames", "'frames' must be an object"),
        ("negative_offset", "non-negative integers"),
        ("float_offset", "non-negative integers"),
        ("array_line", "expected a JSON object"),
    ],
)
def test_malformed_session_files_are_data_errors(tmp_path, damage, message, capsys):
    session = record(tmp_path, "bad")
    metadata = json.loads((session / "metadata.json").read_text())
    records = lines(session)
    if damage == "non_utf8_metadata":
        (session / "metadata.json").write_bytes(b'{"format": "\xff\xfe"}')
    elif damage == "bad_action_space":
        metadata["action_space"] = {"kind": "box", "low": "x"}
        (session / "metadata.json").write_text(json.dumps(metadata))
    elif damage == "bad_robot_type":
        metadata["robot_type"] = ["a"]
        (session / "metadata.json").write_text(json.dumps(metadata))
    elif damage == "array_line":
        records[1] = [1, 2]
    else:
        key, value = {
            "string_time": ("t", "noon"),
            "list_frames": ("frames", ["a"]),
            "negative_offset": ("frames", {"image": ["frames/image.pngpack", -5, 10]}),
            "float_offset": ("frames", {"image": ["frames/image.pngpack", 0.5, 10]}),
        }[damage]
        records[1][key] = value
    write_lines(session, records)
    with pytest.raises(DataError, match=message):
        SessionReader(session)
    assert main(["sessions", "--root", str(tmp_path), "show", str(session)]) == 2
    assert message.split("'")[0] in capsys.readouterr().err


def test_one_bad_session_does_not_break_the_listing(tmp_path, capsys):
    good = record(tmp_path, "good")
    bad = record(tmp_path, "bad")
    (bad / "metadata.json").write_bytes(b"\xff\xfe\x00garbage")
    assert main(["sessions", "list", "--root", str(tmp_path), "--json"]) == 0
    listed = {s["session"]: s["status"] for s in json.loads(capsys.readouterr().out)}
    assert listed == {"good": "complete", "bad": "corrupt"}
    # A corrupt session under the root can still be deleted by name, not by an outside path.
    assert main(["sessions", "--root", str(tmp_path / "x"), "delete", str(bad), "--yes"]) == 2
    assert main(["sessions", "--root", str(tmp_path), "delete", "toroidal_dot/bad", "--yes"]) == 0
    assert not bad.exists() and good.exists()
    assert os.listdir(tmp_path / "toroidal_dot") == ["good"]


def test_a_zero_disk_budget_is_an_error_not_no_budget(tmp_path):
    with pytest.raises(UserError, match="disk_budget_gb must be positive"):
        record(tmp_path, "z", disk_budget_gb=0)
    assert not (tmp_path / "toroidal_dot" / "z").exists()
    root = tmp_path / "cli"
    assert main(["record", "disk_budget_gb=0", "steps=2", f"sessions_root={root}"]) == 2
    assert not root.exists()
