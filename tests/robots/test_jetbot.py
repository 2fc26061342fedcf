"""The JetBot client against a real RPyC server process on loopback (sim backend)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rpyc

from sensorimotor.core.errors import UserError
from sensorimotor.robots.runner import RobotRunner
from sensorimotor.robots.selectors import SequenceSelector
from sensorimotor.robots.session import SessionReader

pytestmark = pytest.mark.mujoco


@pytest.fixture(scope="module")
def server(jetbot_server):
    return jetbot_server  # see conftest.py: a real server process with a long watchdog


@pytest.fixture
def secret_file(tmp_path) -> Path:
    path = tmp_path / "secret"
    path.write_text("correct horse battery staple\n")
    return path


def test_record_a_session_through_the_client_and_read_it_back(server, tmp_path):
    robot = server.robot(encoding="png")
    assert robot.action_space == [
        {"motor_left": 0.0, "motor_right": 0.0, "duration": 0.3},
        {"motor_left": 0.0, "motor_right": 0.12, "duration": 0.3},
    ]
    runner = RobotRunner(
        robot,
        SequenceSelector([robot.action_space[i] for i in (0, 1, 1)]),
        steps=9,
        record_to=tmp_path,
        progress=False,
    )
    stats = runner.run()
    assert stats.stopped_by == "steps" and stats.steps == 9
    reader = SessionReader(stats.session)
    assert reader.robot_type == "jetbot" and reader.complete and len(reader) == 10
    frames = reader.frames("image")
    # N actions, N + 1 observations (the one after the last action has no action).
    assert frames.shape == (10, 48, 48, 3) and frames.dtype == np.uint8
    assert list(reader.action_indices()) == [0, 1, 1] * 3 + [-1]
    # Running the right motor turns the view; staying keeps it (but for a little coasting).
    change = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    moved = reader.action_indices()[:-1] == 1
    assert change[moved].min() > 2.0 and change[~moved].max() < 0.5, change
    assert reader.metadata["robot_config"]["server"]["backend"] == "sim"


def test_interactive_mode_accepts_overrides_and_stop(server):
    robot = server.robot()
    answers = iter(["", "1", "stop"])
    stats = RobotRunner(
        robot,
        SequenceSelector(robot.action_space[:1]),
        steps=10,
        interactive=True,
        input_fn=lambda _: next(answers),
        progress=False,
    ).run()
    assert stats.stopped_by == "user" and stats.steps == 2 and stats.overrides == 1
    assert stats.action_counts == {"0": 1, "1": 1}


def test_jpeg_frames_decode_to_the_requested_size(server):
    with server.robot(encoding="jpeg", jpeg_quality=80) as robot:
        image = robot.get_observation()["image"]
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8 and image.std() > 5


def test_bad_actions_are_refused_on_both_sides(server):
    with server.robot() as robot:
        with pytest.raises(ValueError, match="motor_left"):
            robot.execute_action({"motor_left": 3.0, "motor_right": 0.0, "duration": 0.1})
        with pytest.raises(ValueError, match="duration"):
            robot.execute_action({"motor_right": 0.1})
    conn = server.raw()
    try:
        with pytest.raises(ValueError, match="motor_left"):
            conn.root.drive(2.0, 0.0, 0.1)  # the server checks too
        with pytest.raises(TypeError, match="width must be a number"):
            conn.root.get_frame("48", 48)
    finally:
        conn.close()


def test_motors_stop_when_the_driving_client_disconnects(server):
    driver = server.raw()
    driver.root.set_motors(0.3, 0.3)
    watcher = server.raw()
    try:
        assert json.loads(watcher.root.status())["motor_left"] == pytest.approx(0.3)
        driver.close()
        deadline = time.monotonic() + 10
        status = json.loads(watcher.root.status())
        while status["motor_left"] != 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
            status = json.loads(watcher.root.status())
        assert (status["motor_left"], status["motor_right"]) == (0.0, 0.0)
    finally:
        watcher.close()


def test_classic_mode_and_private_attributes_are_refused(server):
    # A classic-mode client needs the server's getmodule/eval/execute: it cannot even connect.
    with pytest.raises(AttributeError, match="getmodule"):
        rpyc.classic.connect(server.host, server.port)
    conn = rpyc.connect(server.host, server.port)  # rpyc's default (laxer) client config
    try:
        for name in (
            "getmodule",
            "eval",
            "execute",
            "_motors",
            "_backend",
            "_conn",
            "on_disconnect",
        ):
            with pytest.raises(AttributeError, match="cannot access"):
                getattr(conn.root, name)
        with pytest.raises(AttributeError):
            conn.root.get_frame.__func__  # noqa: B018 - no way from a method to its globals
        with pytest.raises(AttributeError):
            conn.root.get_frame.__globals__  # noqa: B018
        assert json.loads(conn.root.info())["backend"] == "sim"  # exposed methods still work
    finally:
        conn.close()


def test_a_wrong_or_missing_secret_is_refused(secret_file, tmp_path, start_jetbot_server):
    server = start_jetbot_server("--secret-file", str(secret_file))
    try:
        wrong = tmp_path / "wrong"
        wrong.write_text("not the secret at all")
        with pytest.raises(UserError, match="refused the shared secret"):
            server.robot(secret_file=str(wrong), connect_timeout_s=2)
        with pytest.raises(UserError, match="secret"):
            server.robot(connect_timeout_s=2, timeout_s=2)
        with pytest.raises((EOFError, OSError)):
            server.raw().root.info()  # a plain RPyC client never reaches the service
        with server.robot(secret_file=str(secret_file)) as robot:
            assert robot.server_info["authenticated"] is True
            assert robot.get_observation()["image"].shape == (48, 48, 3)
    finally:
        server.stop()


def test_killed_server_ends_the_run_cleanly_with_the_session_kept(
    tmp_path, capsys, start_jetbot_server
):
    server = start_jetbot_server()
    robot = server.robot(reconnect_attempts=2, reconnect_backoff_s=0.1, timeout_s=3)

    def kill_at_step_4(event) -> None:
        if event.step == 4:
            server.kill()

    start = time.monotonic()
    try:
        stats = RobotRunner(
            robot,
            SequenceSelector(robot.action_space[::-1]),
            steps=50,
            record_to=tmp_path,
            on_step=kill_at_step_4,
            progress=False,
        ).run()
    finally:
        server.stop()
    assert time.monotonic() - start < 60  # bounded: no hang (generous for a loaded CI machine)
    assert stats.stopped_by == "connection_lost" and stats.steps == 5
    assert f"127.0.0.1:{server.port}" in capsys.readouterr().err
    reader = SessionReader(stats.session)
    assert reader.complete and len(reader) == 5
    assert reader.frames("image").shape == (5, 48, 48, 3)


def test_killed_server_ends_the_canvas_run_with_a_checkpoint(tmp_path, capsys, start_jetbot_server):
    from sensorimotor.train.canvas import load_run_config, run_canvas

    server = start_jetbot_server()
    config = load_run_config(
        [
            "robot=jetbot",
            f"robot.port={server.port}",
            "robot.width=32",
            "robot.height=32",
            "robot.reconnect_attempts=1",
            "robot.reconnect_backoff_s=0.1",
            "model=canvas_tiny",
            "trainer=debug",
            "steps=200",
            "validation.steps=0",
            f"runs_root={tmp_path}",
            "name=jetbot",
            "progress=false",
        ]
    )

    def kill_at_12(info, model) -> None:
        if model.iteration == 12:
            server.kill()

    try:
        result = run_canvas(config, callback=kill_at_12)
    finally:
        server.stop()
    assert result.stopped_by == "connection_lost" and 12 <= result.steps < 200
    assert f"127.0.0.1:{server.port}" in capsys.readouterr().err
    assert any((result.run_dir / "checkpoints").iterdir())
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["stopped_by"] == "connection_lost"
    reader = SessionReader(next((result.run_dir / "sessions" / "jetbot").glob("train*")))
    assert len(reader) >= 12


def test_the_simulated_jetbot_drives_like_a_differential_drive():
    from sensorimotor.robots.jetbot.backends import SimBackend
    from sensorimotor.robots.jetbot.motors import MotorController

    backend = SimBackend()
    motors = MotorController(backend, ramp_s=0.1, watchdog_s=60)
    try:
        start = backend.status()
        motors.run_duration(0.5, 0.5, 1.0)  # both wheels: straight ahead along the heading
        ahead = backend.status()
        step = np.array([ahead["x"] - start["x"], ahead["y"] - start["y"]])
        heading = np.array([np.cos(start["yaw"]), np.sin(start["yaw"])])
        assert step @ heading > 0.15 and abs(ahead["yaw"] - start["yaw"]) < 0.15
        motors.run_duration(0.0, 0.12, 0.3)  # the right wheel alone: a left turn on the spot
        turned = backend.status()
        assert 0.03 < turned["yaw"] - ahead["yaw"] < 0.3
        assert np.hypot(turned["x"] - ahead["x"], turned["y"] - ahead["y"]) < 0.02
        motors.run_duration(0.0, 0.0, 0.3)  # stay: (almost) nothing moves
        stayed = backend.status()
        assert abs(stayed["yaw"] - turned["yaw"]) < 0.01
        frame = backend.frame(32, 24)
        assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
    finally:
        motors.close()
        backend.close()


def test_the_real_backend_server_needs_no_jax_or_mujoco():
    """On the robot only the server's own imports exist: blocking the heavy stacks changes nothing."""
    code = (
        "import sys\n"
        "for name in ('jax', 'mujoco', 'flax', 'optax', 'orbax', 'dm_control', 'h5py', 'hydra'):\n"
        "    sys.modules[name] = None\n"
        "from sensorimotor.cli import main\n"
        "sys.exit(main(['jetbot', 'serve', '--backend', 'real']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "needs NVIDIA's `jetbot` package" in out.stderr


def test_cli_feed_saves_frames_and_record_without_a_server_exits_2(server, tmp_path, capsys):
    from sensorimotor.cli import main

    out = tmp_path / "feed.gif"
    args = ["--port", str(server.port), "--width", "32", "--height", "32"]
    assert main(["jetbot", "feed", *args, "--frames", "3", "--fps", "50", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    code = main(
        ["record", "robot=jetbot", f"robot.port={free}", "steps=2", f"sessions_root={tmp_path}"]
    )
    assert code == 2
    assert f"cannot talk to a JetBot server at 127.0.0.1:{free}" in capsys.readouterr().err


def test_a_dropped_connection_is_reconnected_and_an_action_not_resent(server, capsys):
    with server.robot(reconnect_backoff_s=0.05) as robot:
        robot.get_observation()
        robot._conn._channel.stream.close()  # the link drops under the client
        assert robot.get_observation()["image"].shape == (48, 48, 3)
        assert f"reconnected to 127.0.0.1:{server.port}" in capsys.readouterr().err
        robot._conn._channel.stream.close()
        with pytest.warns(UserWarning, match="not resent"):
            robot.execute_action(robot.action_space[1])
        robot.execute_action(robot.action_space[1])  # and the next one goes through


@contextlib.contextmanager
def starved_main_thread(server, seconds: float = 5.0):
    """Keep the server's main thread off the CPU while its other threads run: the worst case of a
    loaded machine, on purpose. The kernel hands a process-directed SIGSTOP to that thread (it
    waits in ``accept``), so a stop only takes effect once it runs: a test that freezes the
    server with a bare ``os.kill(pid, SIGSTOP)`` then sees the connection thread answer on (what
    made this test flaky under load). Unprivileged: SCHED_IDLE and CPU affinity of our own child."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        yield
        return
    busy, others = {cpus[-1]}, set(cpus[:-1])
    pid = server.proc.pid
    for tid in server.thread_states():
        os.sched_setaffinity(tid, busy if tid == pid else others)
    os.sched_setaffinity(0, others)  # this (client) thread, so it does not relieve the burner
    os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    spin = (
        f"import time\nt = time.time()\nprint(flush=True)\nwhile time.time() - t < {seconds}: pass"
    )
    burner = subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE)
    os.sched_setaffinity(burner.pid, busy)
    burner.stdout.readline()  # spinning now
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)
        burner.kill()
        burner.wait()
        burner.stdout.close()


def test_a_frozen_server_ends_the_run_within_the_timeouts(tmp_path, capsys, start_jetbot_server):
    """A robot that stops answering (SIGSTOP: the kernel still accepts connections) must not hang,
    and the steps before the freeze are all recorded (by the default writer, the writer process)."""
    server = start_jetbot_server()
    with server.robot(timeout_s=120.0) as patient:  # the server's first frame sets up its
        patient.get_observation()  # renderer (seconds under load): not a freeze
    robot = server.robot(
        timeout_s=3.0, connect_timeout_s=1.0, reconnect_attempts=1, reconnect_backoff_s=0.1
    )
    robot.get_observation()

    frozen = []

    def freeze_at_step_2(event) -> None:
        if event.step == 2:
            server.freeze()  # returns once every server thread has stopped, not when queued
            frozen.append(set(server.thread_states().values()))

    try:
        with starved_main_thread(server):
            stats = RobotRunner(
                robot,
                SequenceSelector(robot.action_space[::-1]),
                steps=50,
                record_to=tmp_path,
                on_step=freeze_at_step_2,
                progress=False,
            ).run()
    finally:
        server.thaw()
        server.stop()
    assert frozen == [{"T"}]  # the freeze was one before step 3 asked anything
    assert stats.stopped_by == "connection_lost" and stats.steps == 3
    assert len(SessionReader(stats.session)) == 3
    assert f"the JetBot at 127.0.0.1:{server.port}" in capsys.readouterr().err


def test_reset_puts_the_simulated_world_back(start_jetbot_server):
    server = start_jetbot_server()
    with server.robot(encoding="png") as robot:
        start, first = robot.status(), robot.get_observation()["image"]
        robot.execute_action({"motor_left": 0.5, "motor_right": 0.2, "duration": 0.5})
        assert robot.status()["yaw"] != start["yaw"]
        assert robot.reset(seed=1) is True
        back = robot.status()
        assert {k: back[k] for k in ("time", "x", "y", "yaw")} == {
            k: start[k] for k in ("time", "x", "y", "yaw")
        }
        assert np.array_equal(robot.get_observation()["image"], first)
