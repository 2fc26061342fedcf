"""The JetBot transport's cost: frames/s and action round-trip latency over RPyC on loopback vs the
simulated JetBot called in-process (same backend, same frame size), as ratios.

python benchmarks/jetbot.py [--size 224] [--frames 200] [--actions 100]

Rows: camera frames (in-process render vs JPEG / PNG over the wire, decoded), a duration action of
one control tick (0.02 s of physics: the call's overhead dominates) and an empty RPC (``status``).
The server is a real ``sensorimotor jetbot serve --backend sim`` child process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time

from common import machine_info, print_rows, summary, timeit

from sensorimotor.robots.jetbot.backends import SimBackend
from sensorimotor.robots.jetbot.client import JetBotConfig, JetBotRobot
from sensorimotor.robots.jetbot.motors import MotorController

SERVE = "import sys; from sensorimotor.cli import main; sys.exit(main())"
TICK_ACTION = {"motor_left": 0.0, "motor_right": 0.12, "duration": 0.02}


def start_server() -> tuple[subprocess.Popen, int]:
    """A sim server on a free loopback port; returns the process and the port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "jetbot", "serve", "--backend", "sim", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            found = re.search(r"listening on [\d.]+:(\d+)", proc.stdout.readline())
            if found:
                return proc, int(found[1])
        if proc.poll() is not None:
            break
    os.kill(proc.pid, signal.SIGKILL)
    raise RuntimeError("the JetBot server did not start")


def per_second(seconds: list[float]) -> float:
    return 1.0 / summary(seconds)["median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--actions", type=int, default=100)
    args = parser.parse_args()
    size, n_frames, n_actions = args.size, args.frames, args.actions
    repeat = 5

    backend = SimBackend()
    motors = MotorController(backend, ramp_s=0.1, watchdog_s=60)
    local_frame = timeit(
        lambda: backend.frame(size, size), repeat=repeat, number=n_frames // repeat
    )
    local_action = timeit(
        lambda: motors.run_duration(*TICK_ACTION.values()),
        repeat=repeat,
        number=n_actions // repeat,
    )
    motors.close()
    backend.close()

    proc, port = start_server()
    try:
        rows = [
            {
                "what": "frame, in-process render (baseline)",
                "per_s": per_second(local_frame),
                "ms": 1e3 * summary(local_frame)["median"],
                "ratio": 1.0,
            },
        ]
        for encoding in ("jpeg", "png"):
            cfg = JetBotConfig(port=port, width=size, height=size, encoding=encoding)
            with JetBotRobot(cfg) as robot:
                t = timeit(robot.get_observation, repeat=repeat, number=n_frames // repeat)
            rows.append(
                {
                    "what": f"frame over loopback, {encoding}",
                    "per_s": per_second(t),
                    "ms": 1e3 * summary(t)["median"],
                    "ratio": summary(t)["median"] / summary(local_frame)["median"],
                }
            )
        rows.append(
            {
                "what": "1-tick action, in-process (baseline)",
                "per_s": per_second(local_action),
                "ms": 1e3 * summary(local_action)["median"],
                "ratio": 1.0,
            }
        )
        with JetBotRobot(JetBotConfig(port=port, width=size, height=size)) as robot:
            t = timeit(
                lambda: robot.execute_action(TICK_ACTION), repeat=repeat, number=n_actions // repeat
            )
            rows.append(
                {
                    "what": "1-tick action over loopback",
                    "per_s": per_second(t),
                    "ms": 1e3 * summary(t)["median"],
                    "ratio": summary(t)["median"] / summary(local_action)["median"],
                }
            )
            t = timeit(robot.status, repeat=repeat, number=n_actions // repeat)
            rows.append(
                {
                    "what": "empty call (status) over loopback",
                    "per_s": per_second(t),
                    "ms": 1e3 * summary(t)["median"],
                    "ratio": "",
                }
            )
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
    print(machine_info())
    print(f"frames {size}x{size}; medians of {repeat} repeats")
    print_rows(rows, ["what", "per_s", "ms", "ratio"])


if __name__ == "__main__":
    main()
