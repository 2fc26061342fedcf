"""Steps/s of the toroidal-dot robot alone vs recorded (writer process drawing the frames again
from the robot's frame recipe -- the default --, writer process copying the frames, writer thread,
synchronous writes), and the ratio.

python benchmarks/recording.py [--steps 3000] [--size 224]

Two measures per writer: the sustained rate (``steps`` steps, cleanup -- which drains the writer --
included: bounded by how fast one core encodes PNG frames) and the step-path cost (the median time
of one observe/select/act step while the writer keeps up, i.e. what recording adds to the robot's
loop; for the writer process, steps that fit in its shared-memory ring).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

from common import machine_info, print_rows

from sensorimotor.robots.recording import RecordingRobot
from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot


def ready(robot):
    """Wait for a writer process to have started: its one-off start-up is not a per-step cost."""
    wait = getattr(getattr(robot, "writer", None), "wait_ready", None)
    if wait is not None:
        wait()
    return robot


def steps_per_second(make_robot, steps: int) -> float:
    """Observe/select/act for ``steps`` steps, cleanup (which drains the writer) included."""
    robot = ready(make_robot())
    selector = RandomDurationSelector(robot.action_space, 1, 10, seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        robot.execute_action(selector(robot.get_observation()))
    robot.cleanup()
    return steps / (time.perf_counter() - start)


def step_path_seconds(make_robot, steps: int) -> float:
    """Median seconds of one step (cleanup excluded), after one untimed step."""
    robot = ready(make_robot())
    selector = RandomDurationSelector(robot.action_space, 1, 10, seed=0)
    robot.execute_action(selector(robot.get_observation()))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        robot.execute_action(selector(robot.get_observation()))
        times.append(time.perf_counter() - start)
    robot.cleanup()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--delay", type=float, default=0.001, help="per-action delay of the slow-robot rows (s)"
    )
    args = parser.parse_args()
    config = ToroidalDotConfig(width=args.size, height=args.size, seed=0)
    slow = ToroidalDotConfig(width=args.size, height=args.size, seed=0, action_delay=args.delay)
    slow_steps = max(1, min(args.steps, int(2.0 / args.delay)))
    # Steps that fit in the writer process's ring (16 MiB) with room to spare.
    ring_steps = max(10, min(args.steps, int(0.8 * 16 * 2**20 / (args.size * args.size * 3 + 512))))
    root = tempfile.mkdtemp(prefix="bench-recording-")

    def recorded(cfg, writer, redraw=True):
        return lambda: RecordingRobot(
            ToroidalDotRobot(cfg), root, writer=writer, redraw_frames=redraw
        )

    sustained = {
        "bare": (lambda: ToroidalDotRobot(config), args.steps),
        "recorded (writer process)": (recorded(config, "process"), args.steps),
        "recorded (process, frames copied)": (recorded(config, "process", False), args.steps),
        "recorded (writer thread)": (recorded(config, "thread"), args.steps),
        "recorded (sync writes)": (recorded(config, "sync"), args.steps),
        f"bare, {args.delay * 1e3:g} ms/action": (lambda: ToroidalDotRobot(slow), slow_steps),
        f"recorded (process), {args.delay * 1e3:g} ms/action": (
            recorded(slow, "process"),
            slow_steps,
        ),
        f"recorded (thread), {args.delay * 1e3:g} ms/action": (
            recorded(slow, "thread"),
            slow_steps,
        ),
    }
    path = {
        "bare": lambda: ToroidalDotRobot(config),
        "recorded (writer process)": recorded(config, "process"),
        "recorded (process, frames copied)": recorded(config, "process", False),
        "recorded (writer thread)": recorded(config, "thread"),
        "recorded (sync writes)": recorded(config, "sync"),
    }
    best: dict[str, float] = {}
    median: dict[str, float] = {}
    try:
        for _ in range(args.repeat):  # rounds interleave the variants, so load drift hits all alike
            for name, (make, steps) in sustained.items():
                best[name] = max(best.get(name, 0.0), steps_per_second(make, steps))
            for name, make in path.items():
                median[name] = min(median.get(name, 1.0), step_path_seconds(make, ring_steps))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(machine_info())
    print(f"toroidal dot {args.size}x{args.size}, {args.steps} steps, best of {args.repeat} rounds")
    names = list(best)
    slow_bare = next(n for n in names if n.startswith("bare,"))
    baseline = {n: best[slow_bare] if "ms/action" in n else best["bare"] for n in names}
    print_rows(
        [
            {
                "sustained": n,
                "steps/s": best[n],
                "us/step": 1e6 / best[n],
                "cost vs bare": baseline[n] / best[n],
            }
            for n in names
        ]
    )
    print(f"\nstep-path cost: median of {ring_steps} steps, best of {args.repeat} rounds")
    print_rows(
        [
            {"step path": n, "us/step": 1e6 * s, "cost vs bare": s / median["bare"]}
            for n, s in median.items()
        ]
    )


if __name__ == "__main__":
    main()
