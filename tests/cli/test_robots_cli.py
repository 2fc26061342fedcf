import json
import subprocess
import sys

import pytest

from sensorimotor.cli import main
from sensorimotor.robots.session import SessionReader


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sensorimotor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "record", "replay", "sessions"):
        assert command in out


def test_record_list_show_replay_delete(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "record",
                "steps=20",
                "progress=false",
                "session_name=demo",
                "selector=sequence",
                "selector.sequence=DOUBLE_MOVE",
            ]
        )
        == 0
    )
    assert "20 steps" in capsys.readouterr().out
    reader = SessionReader(tmp_path / "saved/sessions/toroidal_dot/demo")
    assert [a["action"] for a in reader.actions()[:6]] == [1, 1, 0, 1, 1, 0]
    assert len(reader) == 21 and reader.actions()[-1] is None  # the last action's outcome
    assert reader.metadata["config"]["selector"]["type"] == "sequence"
    assert reader.metadata["config"]["environment"]["seed"] == 0

    assert main(["sessions", "list", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["session"] == "demo" and row["steps"] == 21 and row["status"] == "complete"
    assert main(["sessions", "show", "demo", "--check"]) == 0
    assert "all 21 steps read back intact" in capsys.readouterr().out

    assert main(["replay", "demo", "--export", str(tmp_path / "demo.gif")]) == 0
    assert (tmp_path / "demo.gif").stat().st_size > 0
    assert main(["replay", "demo", "--on-robot"]) == 0
    assert "frames identical to the recording: 20/20" in capsys.readouterr().out

    assert main(["sessions", "delete", "demo", "--yes"]) == 0
    assert not (tmp_path / "saved/sessions/toroidal_dot/demo").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "robot.dot_radius=big"], "robot.dot_radius: expected int, got 'big'"),
        (["record", "robot=hexapod"], "unknown robot option 'hexapod'"),
        (
            ["record", "selector=sequence", "selector.sequence=WIGGLE"],
            "unknown named sequence 'WIGGLE'",
        ),
        (["record", "robot.colour=red"], "unknown config key robot.colour"),
        (["replay", "no-such-session"], "session 'no-such-session' not found"),
        (["sessions", "show", "broken"], "corrupt session metadata"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    broken = tmp_path / "saved/sessions/toroidal_dot/broken"
    broken.mkdir(parents=True)
    (broken / "metadata.json").write_text("{oops")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_usage_exits_2(tmp_path):
    result = cli("sessions", cwd=tmp_path)
    assert result.returncode == 2
    assert cli("frobnicate", cwd=tmp_path).returncode == 2


def test_delete_refuses_without_confirmation_when_not_interactive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["record", "steps=2", "progress=false", "session_name=keep"]) == 0
    result = cli("sessions", "delete", "keep", cwd=tmp_path)
    assert result.returncode == 2 and "pass --yes" in result.stderr
    assert (tmp_path / "saved/sessions/toroidal_dot/keep").exists()


@pytest.mark.mujoco
def test_replay_exports_mp4(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["record", "steps=6", "progress=false", "session_name=v"]) == 0
    assert main(["replay", "v", "--export", "v.mp4", "--fps", "5"]) == 0
    assert (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
