"""Steps/s of the toroidal-dot robot alone vs recorded (async and synchronous writes), and the ratio.

python benchmarks/recording.py [--steps 3000] [--size 224]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

from common import machine_info, print_rows

from sensorimotor.robots.recording import RecordingRobot
from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot


def steps_per_second(make_robot, steps: int) -> float:
    """Observe/select/act for ``steps`` steps, cleanup (which drains the writer) included."""
    robot = make_robot()
    selector = RandomDurationSelector(robot.action_space, 1, 10, seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        robot.execute_action(selector(robot.get_observation()))
    robot.cleanup()
    return steps / (time.perf_counter() - start)


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
    root = tempfile.mkdtemp(prefix="bench-recording-")
    variants = {
        "bare": (lambda: ToroidalDotRobot(config), args.steps),
        "recorded (async writer)": (
            lambda: RecordingRobot(ToroidalDotRobot(config), root),
            args.steps,
        ),
        "recorded (sync writes)": (
            lambda: RecordingRobot(ToroidalDotRobot(config), root, async_writes=False),
            args.steps,
        ),
        f"bare, {args.delay * 1e3:g} ms/action": (lambda: ToroidalDotRobot(slow), slow_steps),
        f"recorded (async), {args.delay * 1e3:g} ms/action": (
            lambda: RecordingRobot(ToroidalDotRobot(slow), root),
            slow_steps,
        ),
    }
    try:
        best = {
            name: max(steps_per_second(make, steps) for _ in range(args.repeat))
            for name, (make, steps) in variants.items()
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(machine_info())
    print(f"toroidal dot {args.size}x{args.size}, {args.steps} steps, best of {args.repeat}")
    names = list(best)
    baseline = {name: best[names[0]] if i < 3 else best[names[3]] for i, name in enumerate(names)}
    print_rows(
        [
            {
                "variant": n,
                "steps/s": best[n],
                "us/step": 1e6 / best[n],
                "cost vs bare": baseline[n] / best[n],
            }
            for n in names
        ]
    )


if __name__ == "__main__":
    main()
