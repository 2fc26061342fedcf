"""Exploration by uncertainty vs random selectors: robot steps until every (dot-x bucket, action)
pair of the toroidal dot has been visited, with the adaptive model learning online throughout
(gating included: steps the robot waits do not count).

``python -m sensorimotor.train.adaptive.exploration --seeds 0 1 2 3 4`` prints the steps per seed
and selector and the ratio of the medians (docs/worldmodels.md, "Adaptive world model").
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

SELECTORS = ("uncertainty", "random_duration", "random")


def coverage_steps(
    selector: str,
    seed: int,
    *,
    buckets: int = 8,
    max_iterations: int = 3000,
    model_overrides: dict[str, Any] | None = None,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Run one seed; returns the robot steps to full coverage (None if not reached), the
    iterations and the pairs visited."""
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotRobot
    from sensorimotor.worldmodels.adaptive.config import AdaptiveModelConfig
    from sensorimotor.worldmodels.adaptive.model import AdaptiveWorldModel
    from sensorimotor.worldmodels.config import CanvasTrainerConfig

    if selector not in SELECTORS:
        raise ValueError(f"selector must be one of {SELECTORS}, got {selector!r}")
    robot = ToroidalDotRobot(seed=seed)
    config = AdaptiveModelConfig(
        **{
            "selector": "uncertainty" if selector == "uncertainty" else "external",
            **(model_overrides or {}),
        }
    )
    # One frame fits the input z-score (every dot frame has the same statistics), so no random
    # warm-up steps blur the comparison of the selectors.
    trainer = CanvasTrainerConfig(batch_size=batch_size, warmup_steps=20, normalizer_frames=1)
    model = AdaptiveWorldModel(config, trainer, robot.action_space, (224, 224), seed=seed)
    longest = 10 if selector == "random_duration" else 1  # "random": a new action every step
    external = RandomDurationSelector(robot.action_space, 1, longest, seed=seed)
    width = robot.config.width
    visited: set[tuple[int, int]] = set()
    total = buckets * len(robot.action_space)
    while model.iteration < max_iterations and len(visited) < total:
        x = robot.x
        info = model.step(robot, external)
        if info.action_index is not None:
            visited.add((x * buckets // width, info.action_index))
    return {
        "selector": selector,
        "seed": seed,
        "robot_steps": model.robot_steps if len(visited) == total else None,
        "iterations": model.iteration,
        "robot_steps_run": model.robot_steps,  # also when coverage was not reached
        "visited": len(visited),
        "pairs": total,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--selectors", nargs="+", default=list(SELECTORS), choices=SELECTORS)
    parser.add_argument("--max-iterations", type=int, default=3000)
    parser.add_argument("--override", nargs="*", default=[], help="model key=value (YAML values)")
    args = parser.parse_args(argv)
    import yaml

    from sensorimotor.core.jaxcache import enable_compilation_cache

    enable_compilation_cache()
    overrides = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in args.override)}
    results: dict[str, list[Any]] = {}
    for seed in args.seeds:  # seed-major, so an interrupted experiment still compares selectors
        for selector in args.selectors:
            r = coverage_steps(
                selector, seed, max_iterations=args.max_iterations, model_overrides=overrides
            )
            print(json.dumps(r), flush=True)
            results.setdefault(selector, []).append(r["robot_steps"])
    medians = {}
    for selector, steps in results.items():
        done = [s if s is not None else float("inf") for s in steps]
        medians[selector] = statistics.median(done)
        print(f"{selector}: robot steps to cover every pair {steps}, median {medians[selector]}")
    if "uncertainty" in medians:
        for other in (s for s in medians if s != "uncertainty"):
            print(f"{other} / uncertainty median: {medians[other] / medians['uncertainty']:.2f}x")


if __name__ == "__main__":
    main()
