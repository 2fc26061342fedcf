"""The adaptive world model: ms per online iteration and predictor train-step MFU.

Run from the repository root: ``python benchmarks/adaptive.py [--quick] [--batch 8]``.

Rows (``sensorimotor run model=adaptive``'s model on the 224x224 toroidal dot):

- ``gated``: an iteration whose frame is not reconstructed well enough: one MAE step, the robot
  waits (``reconstruction_threshold=0``);
- ``predictor-training``: the robot acts and level 1 trains on every fresh sample
  (``reconstruction_threshold=1e9``, ``prediction_threshold=0``);
- ``acting``: the robot acts and nothing trains (``prediction_threshold=inf``): reconstruction
  check, scoring every action by the ensemble, execution.

The ratio column is each row's time over the gated iteration's, measured in the same run. The
predictor train step's FLOPs come from XLA's cost analysis of the compiled step; MFU divides the
achieved FLOP/s by the jitted float32 matmul peak measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np
from common import machine_info, matmul_peak_flops, print_rows, timeit


def make_model(batch: int, **overrides: Any) -> tuple[Any, Any]:
    from sensorimotor.robots.toroidal_dot import ToroidalDotRobot
    from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
    from sensorimotor.worldmodels.adaptive.model import AdaptiveWorldModel
    from sensorimotor.worldmodels.config import CanvasTrainerConfig

    robot = ToroidalDotRobot(seed=1)
    model = AdaptiveWorldModel(
        AdaptiveModelConfig(**overrides),
        # One frame fits the input z-score, so no warm-up iterations (nothing trains) are timed.
        CanvasTrainerConfig(batch_size=batch, normalizer_frames=1),
        robot.action_space,
        (224, 224),
        seed=0,
    )
    return robot, model


def iteration_ms(batch: int, steps: int, warmup: int, **overrides: Any) -> float:
    robot, model = make_model(batch, **overrides)
    for _ in range(warmup):  # compile, fill the history
        model.step(robot)
    return 1e3 * statistics.median(model.step(robot).seconds for _ in range(steps))


def predictor_step_row(batch: int, repeat: int, peak: float) -> dict[str, Any]:
    import jax

    robot, model = make_model(batch, reconstruction_threshold=1e9, prediction_threshold=0.0)
    for _ in range(6):
        model.step(robot)
    level = model.levels[0]
    ends = model.history.valid_ends(1, model.config.history)
    picks = np.resize(ends, batch)
    sample = model.history.sample(picks, 1, model.config.history, model.num_actions)
    key = jax.random.key(0)
    step = model.steps.predictor_step
    kwargs = {"classes": level.classes, "train_mae": True}
    args = (model.mae, model.input_norm, level.state, sample, key)
    compiled = step.lower(*args, **kwargs).compile()
    cost = compiled.cost_analysis()
    flops = float((cost[0] if isinstance(cost, list) else cost)["flops"])
    seconds = min(timeit(lambda: step(*args, **kwargs)[2]["loss"], repeat=repeat))
    return {
        "row": f"predictor train step (batch {batch})",
        "ms": f"{1e3 * seconds:.1f}",
        "GFLOP/step": f"{flops / 1e9:.2f}",
        "GFLOP/s": f"{flops / seconds / 1e9:.1f}",
        "MFU vs matmul peak": f"{flops / seconds / peak:.1%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    from sensorimotor.core.jaxcache import enable_compilation_cache

    enable_compilation_cache()
    steps = 5 if args.quick else 20
    print(machine_info())
    peak = matmul_peak_flops(n=1024 if args.quick else 2048, repeat=5 if args.quick else 10)
    print(f"baseline: float32 matmul peak {peak / 1e9:.1f} GFLOP/s\n")
    gated = iteration_ms(args.batch, steps, 3, reconstruction_threshold=0.0)
    rows = [{"iteration": "gated (MAE step, robot waits)", "ms": gated}]
    rows.append(
        {
            "iteration": "predictor-training",
            "ms": iteration_ms(
                args.batch, steps, 6, reconstruction_threshold=1e9, prediction_threshold=0.0
            ),
        }
    )
    rows.append(
        {
            "iteration": "acting (no training)",
            "ms": iteration_ms(
                args.batch,
                steps,
                6,
                reconstruction_threshold=1e9,
                prediction_threshold=float("inf"),
            ),
        }
    )
    for row in rows:
        row["x gated"] = f"{row['ms'] / gated:.2f}"
        row["ms"] = f"{row['ms']:.1f}"
    print_rows(rows)
    print()
    print_rows([predictor_step_row(args.batch, 3 if args.quick else 10, peak)])


if __name__ == "__main__":
    main()
