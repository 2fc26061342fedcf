"""Robot-test fixtures: a real ``sensorimotor jetbot serve --backend sim`` process on loopback."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rpyc

SERVE = "import sys; from sensorimotor.cli import main; sys.exit(main())"


class JetBotServerProcess:
    """``sensorimotor jetbot serve --backend sim --port 0`` in a child process; stopped by its PID."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                "jetbot",
                "serve",
                "--backend",
                "sim",
                "--port",
                "0",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                self.output.append(line)
                found = re.search(r"listening on ([\d.]+):(\d+)", line)
                if found:
                    self.host, self.port = found[1], int(found[2])
                    return
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"the JetBot server did not start: {''.join(self.output)}")

    def freeze(self, timeout: float = 30.0) -> None:
        """SIGSTOP the server and return only once every one of its threads has stopped.

        ``kill`` returns when the stop is queued, not when it has happened: the kernel wakes one
        thread (the main one, waiting in ``accept``) to take a process-directed SIGSTOP, and the
        other threads -- among them the one answering our RPyC calls -- run on until that thread
        gets a CPU. On a loaded machine that took whole runs (see tests/robots/test_jetbot.py).
        """
        os.kill(self.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while (states := thread_states(self.proc.pid)) and set(states.values()) != {"T"}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the JetBot server did not stop within {timeout} s: {states}")
            time.sleep(0.001)

    def thread_states(self) -> dict[int, str]:
        """Each server thread's id and scheduler state (R, S, T, ...)."""
        return thread_states(self.proc.pid)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc.stdout.close()

    def robot(self, **overrides):
        from sensorimotor.robots.jetbot.client import JetBotConfig, JetBotRobot

        return JetBotRobot(JetBotConfig(port=self.port, **{"width": 48, "height": 48, **overrides}))

    def raw(self) -> rpyc.Connection:
        from sensorimotor.robots.jetbot.wire import PROTOCOL_CONFIG

        return rpyc.connect(self.host, self.port, config=dict(PROTOCOL_CONFIG))


def thread_states(pid: int) -> dict[int, str]:
    """Each thread of ``pid`` and its scheduler state (``/proc/PID/task/TID/stat``: R, S, T, ...)."""
    states = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread has just exited
            continue
        states[int(task.name)] = stat[stat.rindex(")") + 2]
    return states


@pytest.fixture
def start_jetbot_server() -> Iterator[Callable[..., JetBotServerProcess]]:
    """``start_jetbot_server(*serve_args)``: a fresh server process, stopped after the test."""
    servers: list[JetBotServerProcess] = []

    def start(*args: str) -> JetBotServerProcess:
        servers.append(JetBotServerProcess(*args))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def jetbot_server() -> Iterator[JetBotServerProcess]:
    """One server for a test module, with a long watchdog (so motors that stop did so because
    their client disconnected)."""
    pytest.importorskip("mujoco")
    server = JetBotServerProcess("--watchdog", "60")
    yield server
    server.stop()
