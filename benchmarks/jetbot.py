"""The JetBot transport's cost: frames/s and action round-trip latency over RPyC on loopback vs the
simulated JetBot called in-process (same backend, same frame size), as ratios.

python benchmarks/jetbot.py [--size 224] [--rounds 10] [--number 20]

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
from collections.abc import Callable

from common import machine_info, print_rows, summary

from sensorimotor.robots.jetbot.backends import SimBackend
from sensorimotor.robots.jetbot.client import JetBotConfig, JetBotRobot
from sensorimotor.robots.jetbot.motors import MotorController
from sensorimotor.robots.jetbot.wire import encode_frame

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


def interleaved(
    variants: dict[str, Callable[[], object]], rounds: int, number: int
) -> dict[str, float]:
    """Median seconds per call of each variant, measured round-robin (``number`` calls per turn),
    so that the load of a shared machine drifts over all variants alike."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():  # warm-up
        fn()
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return {name: summary(t)["median"] for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--number", type=int, default=20, help="calls per variant and round")
    args = parser.parse_args()
    size = args.size

    backend = SimBackend()
    motors = MotorController(backend, ramp_s=0.1, watchdog_s=60)
    proc, port = start_server()
    robots = {
        enc: JetBotRobot(JetBotConfig(port=port, width=size, height=size, encoding=enc))
        for enc in ("jpeg", "png")
    }
    try:
        frames = interleaved(
            {
                "frame, in-process render (baseline)": lambda: backend.frame(size, size),
                "frame over loopback, jpeg": robots["jpeg"].get_observation,
                "frame over loopback, png": robots["png"].get_observation,
            },
            args.rounds,
            args.number,
        )
        actions = interleaved(
            {
                "1-tick action, in-process (baseline)": lambda: motors.run_duration(
                    *TICK_ACTION.values()
                ),
                "1-tick action over loopback": lambda: robots["jpeg"].execute_action(TICK_ACTION),
                "empty call (status) over loopback": robots["jpeg"].status,
            },
            args.rounds,
            args.number,
        )
    finally:
        for robot in robots.values():
            robot.cleanup()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
        motors.close()
        backend.close()
    rows = []
    for group in (frames, actions):
        base = next(iter(group.values()))
        for name, seconds in group.items():
            rows.append(
                {"what": name, "per_s": 1 / seconds, "ms": 1e3 * seconds, "ratio": seconds / base}
            )
    sample = SimBackend()
    frame = sample.frame(size, size)
    sizes = {enc: len(encode_frame(frame, enc)) for enc in ("jpeg", "png")}
    sample.close()
    print(machine_info())
    print(f"bytes per frame: jpeg (quality 90) {sizes['jpeg']:,}, png {sizes['png']:,}")
    print(
        f"frames {size}x{size}; medians of {args.rounds} interleaved rounds of {args.number} calls"
    )
    print_rows(rows, ["what", "per_s", "ms", "ratio"])


if __name__ == "__main__":
    main()
