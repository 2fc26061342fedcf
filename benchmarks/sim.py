"""MuJoCo tooling speed: raw ``mj_step`` vs ``MujocoRobot`` (overhead ratio) and render frames/s.

For each scene, one control period (``control_period / timestep`` physics steps) is timed as:

- raw: ``data.ctrl[:] = target; mj_step(model, data, nstep=n)`` (the baseline);
- raw, one call per step: ``n`` separate ``mj_step`` calls from Python;
- robot: ``MujocoRobot.execute_action`` + ``get_observation`` without rendering;

and rendering as ``Renderer.render`` of a 224×224 RGB frame (``mj_forward`` included; with and
without shadows/reflections), and the robot with its camera image (no shadows, its default).
Physics rows use process CPU seconds (best of ``--repeat``, variants interleaved, each from the
same initial state), so other jobs sharing the CPU distort them little; rendering rows use wall
time (Mesa renders on threads).
The overhead ratio is robot time / raw time (target ≤ 1.10).

python benchmarks/sim.py [--periods 400] [--repeat 5] [--scenes test_scene bimanual_bricks]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from common import machine_info, print_rows  # noqa: E402

from sensorimotor.robots.mujoco import MujocoRobot  # noqa: E402
from sensorimotor.sim.render import Renderer  # noqa: E402
from sensorimotor.sim.scenes import load_scene, reset_data  # noqa: E402


def cpu_seconds(fn, repeat: int, clock=time.process_time) -> float:
    """Best time of ``fn`` over ``repeat`` calls; by default process CPU time (robust to other jobs)."""
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def bench_scene(scene: str, periods: int, frames: int, repeat: int, size: int) -> list[dict]:
    """Rows of timings for one scene."""
    robot = MujocoRobot(scene=scene, render=False)
    n = robot.n_substeps
    actions = robot.action_space
    model, data = load_scene(scene)
    ids = robot._actuator_ids
    targets = np.zeros((len(actions), model.nu))
    for k, action in enumerate(actions[1:], start=1):  # the same target changes as the actions
        targets[k, ids[robot.actuator_names.index(action["actuator"])]] = action["delta"]

    def raw() -> None:
        reset_data(model, data)  # every variant simulates the same trajectory
        for k in range(periods):
            data.ctrl[:] = np.clip(
                data.ctrl + targets[k % len(actions)], *model.actuator_ctrlrange.T
            )
            mujoco.mj_step(model, data, nstep=n)

    def raw_single() -> None:
        reset_data(model, data)
        for k in range(periods):
            data.ctrl[:] = np.clip(
                data.ctrl + targets[k % len(actions)], *model.actuator_ctrlrange.T
            )
            for _ in range(n):
                mujoco.mj_step(model, data)

    def robot_loop() -> None:
        robot.reset()
        for k in range(periods):
            robot.execute_action(actions[k % len(actions)])
            robot.get_observation()

    rows = []
    # Interleave the variants so load changes on a shared machine hit them alike; keep the best.
    variants = {"raw": raw, "single": raw_single, "robot": robot_loop}
    for fn in variants.values():  # warm-up
        fn()
    times = {key: float("inf") for key in variants}
    for _ in range(repeat):
        for key, fn in variants.items():
            times[key] = min(times[key], cpu_seconds(fn, 1))
    t_raw, t_single, t_robot = times["raw"], times["single"], times["robot"]
    assert np.array_equal(data.qpos, robot.data.qpos), "raw and robot trajectories differ"
    steps = periods * n
    for name, t in (
        ("raw mj_step(nstep)", t_raw),
        ("raw mj_step x n (Python loop)", t_single),
        ("MujocoRobot, no render", t_robot),
    ):
        rows.append(
            {
                "scene": scene,
                "variant": name,
                "physics steps/s": steps / t,
                "actions/s": periods / t,
                "ratio vs raw": t / t_raw,
            }
        )
    robot.cleanup()

    renderer = Renderer(model, size, size)
    for label, lit in (("with shadows", True), ("no shadows/reflections", False)):

        def render(lit: bool = lit) -> None:
            for _ in range(frames):
                renderer.render(data, "overhead", shadows=lit, reflections=lit)

        render()  # warm-up
        t_render = cpu_seconds(render, repeat, time.perf_counter)  # Mesa renders on threads
        rows.append(
            {
                "scene": scene,
                "variant": f"render {size}x{size} RGB, {label}",
                "frames/s": frames / t_render,
            }
        )
    renderer.close()
    seen = MujocoRobot(scene=scene, width=size, height=size)  # no shadows by default
    seen.get_observation()

    def seen_loop() -> None:
        for k in range(frames):
            seen.execute_action(actions[k % len(actions)])
            seen.get_observation()

    seen_loop()  # warm-up
    t_seen = cpu_seconds(seen_loop, repeat, time.perf_counter)
    seen.cleanup()
    rows.append(
        {
            "scene": scene,
            "variant": f"MujocoRobot with {size}x{size} image (no shadows)",
            "actions/s": frames / t_seen,
            "physics steps/s": frames * n / t_seen,
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--periods", type=int, default=400, help="control periods per timing")
    parser.add_argument("--frames", type=int, default=100, help="rendered frames per timing")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--scenes", nargs="+", default=["test_scene", "bimanual_bricks"])
    args = parser.parse_args()
    info = machine_info()
    print(f"machine: {info}  mujoco {mujoco.__version__}  MUJOCO_GL={os.environ['MUJOCO_GL']}")
    rows = []
    for scene in args.scenes:
        rows += bench_scene(scene, args.periods, args.frames, args.repeat, args.size)
    print_rows(
        rows, ["scene", "variant", "physics steps/s", "actions/s", "frames/s", "ratio vs raw"]
    )
    for scene in args.scenes:
        raw, _, robot = [r for r in rows if r["scene"] == scene][:3]
        ratio = robot["ratio vs raw"]
        verdict = "meets" if ratio <= 1.10 else "misses"
        print(f"{scene}: MujocoRobot overhead ratio {ratio:.3f} ({verdict} the <= 1.10 target)")


if __name__ == "__main__":
    main()
