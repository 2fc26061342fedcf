"""Probe a toroidal-dot canvas run on synthetic canvases: every start column at a few rows, each
next frame predicted under both actions; prints the start columns where a prediction is wrong.

    python scripts/canvas_probe.py runs/seeds/seed-1                # latest checkpoint
    python scripts/canvas_probe.py runs/seeds/seed-1 --step 2000 --rows 30 100 180

A prediction is right when its bright-centroid displacement from the last context frame is within
``--tolerance`` px (robot pixels) of the action's true one (stay: 0, move: the robot's
``move_pixels``), as in the run's counterfactual accuracy. Two contexts per start column: the dot
kept still before (stay, then the probed action) and the dot moved before (move, then the probed
action). This is how the patch-boundary errors of docs/worldmodels.md ("Quality") were found.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.toroidal_dot import ToroidalDotRobot
from sensorimotor.train.canvas.config import canvas_model_config, load_any_config
from sensorimotor.worldmodels.model import CanvasWorldModel
from sensorimotor.worldmodels.quality import bright_centroid, wrapped


def load(run_dir: Path, step: int | None) -> tuple[CanvasWorldModel, object]:
    """The run's model at checkpoint ``step`` (default: the latest) and its robot config."""
    run = RunDir.open(run_dir)
    saved = load_any_config(run)
    robot = saved.robot
    model = CanvasWorldModel(
        canvas_model_config(saved.model),
        saved.trainer,
        [{"action": 0}, {"action": 1}],
        (robot.height, robot.width),
        seed=saved.seed,
    )
    state, _ = CheckpointManager(run.checkpoints_dir).restore(step)
    model.load_state_dict(state)
    return model, robot


def frame(model: CanvasWorldModel, robot_config, x: int, y: int) -> np.ndarray:
    """The model frame of the dot at ``(x, y)``."""
    robot = ToroidalDotRobot(robot_config, initial_x=x % robot_config.width, initial_y=y)
    return model.prepare(robot.get_observation())


def probe(model: CanvasWorldModel, robot_config, row: int, tolerance: float) -> dict[str, list]:
    """Wrong start columns at ``row``, per (previous action, probed action)."""
    width, move = robot_config.width, robot_config.move_pixels
    scale = width / model.frame_shape[1]
    wrong: dict[str, list] = {}
    for previous in (0, 1):
        xs = np.arange(width)
        context = np.stack(
            [
                np.stack(
                    [
                        frame(model, robot_config, x - previous * move, row),
                        frame(model, robot_config, x, row),
                    ]
                )
                for x in xs
            ]
        )
        predictions = model.counterfactual(context, np.full((width, 1), previous, np.int32))
        last = bright_centroid(context[:, 1].astype(np.float32) / 255)[:, 1]
        for action in (0, 1):
            after = bright_centroid(predictions[:, action])[:, 1]
            shift = wrapped(after - last, model.frame_shape[1]) * scale
            bad = np.abs(shift - action * move) > tolerance
            wrong[f"{['stay', 'move'][previous]}→{['stay', 'move'][action]}"] = xs[bad].tolist()
    return wrong


def ranges(xs: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``"3–5, 9"``."""
    out, start = [], None
    for i, x in enumerate(xs):
        if start is None:
            start = x
        if i + 1 == len(xs) or xs[i + 1] != x + 1:
            out.append(f"{start}–{x}" if x != start else f"{x}")
            start = None
    return ", ".join(out) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("--rows", type=int, nargs="+", default=[30, 100, 180])
    parser.add_argument("--tolerance", type=float, default=3.0)
    args = parser.parse_args()
    model, robot_config = load(args.run, args.step)
    total = bad = 0
    for row in args.rows:
        for case, xs in probe(model, robot_config, row, args.tolerance).items():
            total += robot_config.width
            bad += len(xs)
            print(f"row {row:3d} {case}: {len(xs):3d} wrong start columns: {ranges(xs)}")
    print(f"probe accuracy {100 * (1 - bad / total):.1f} % ({bad} of {total} wrong)")


if __name__ == "__main__":
    main()
