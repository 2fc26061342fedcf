"""Staged training with LR sweeps vs the best fixed learning rate of a grid (issue 13).

python benchmarks/staged_quality.py OUT_DIR [--train-steps 600] [--grid 3e-4,1e-3,3e-3,1e-2]
    [--grid-steps 1500] [--multiplier 16] [--model canvas] [--augment roll_x,roll_y]
    [--seam-fraction 0.5] [--skip-grid | --skip-staged] [--profile] [--staged KEY=VALUE ...]

Records a toroidal-dot training session and a held-out one (another seed), trains ``canvas train``
at every grid learning rate (the standard warm-up + cosine schedule) and ``canvas staged`` on the
training session's progressive splits, and evaluates every result on the held-out session with the
same function: masked-slot MSE and counterfactual accuracy, against the compute each used (train
steps, sweep steps included, and wall time). Prints one JSON document (and writes it to OUT_DIR
after every part, so a run cut short keeps what it measured).

Both kinds train with the toroidal dot's shift augmentations (``--augment``, as
``trainer/augment/toroidal_dot.yaml`` sets for ``sensorimotor run``): without them a model learns the
training session's one dot row by heart and no run generalises to the held-out session's row
(0 % counterfactual accuracy for every run; ``--augment ''`` reproduces that).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path

from common import machine_info

from sensorimotor.core.jaxcache import enable_compilation_cache
from sensorimotor.robots.runner import RobotRunner
from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot


def record(root: Path, name: str, steps: int, seed: int) -> Path:
    robot = ToroidalDotRobot(ToroidalDotConfig(seed=seed))
    selector = RandomDurationSelector(robot.action_space, 1, 4, seed=seed)
    runner = RobotRunner(
        robot, selector, steps=steps, record_to=root, session_name=name, progress=False
    )
    return runner.run().session


def augment_overrides(args) -> list[str]:
    """The trainer keys of the shift augmentations (the same for the grid and staged training)."""
    rolls = [a for a in args.augment.split(",") if a]
    return [f"trainer.augment=[{','.join(rolls)}]", f"trainer.seam_fraction={args.seam_fraction}"]


def heldout_quality(model, heldout: Path, config) -> dict:
    from sensorimotor.train.canvas.batch import evaluate_sessions, session_data
    from sensorimotor.worldmodels.sessions import CanvasDataset

    frames, _ = session_data([str(heldout)], config.sessions_root, model.frame_shape[:2], False)
    out = evaluate_sessions(
        model, (frames, CanvasDataset(frames, model.layout, model.palette)), config
    )
    q = out["quality"]
    keep = ("heldout", "mse", "mse_baseline", "counterfactual_accuracy", "position_error_px")
    return {k: q[k] for k in keep if k in q}


def grid(args, train: Path, heldout: Path, out: Path, on_row=None) -> list[dict]:
    from sensorimotor.train.canvas import load_train_config, train_on_sessions

    rows = []
    for lr in args.grid:
        t0 = time.perf_counter()
        config = load_train_config(
            [str(train)],
            [
                f"model={args.model}",
                f"trainer.lr={lr}",
                *augment_overrides(args),
                f"steps={args.grid_steps}",
                f"eval_sessions=[{heldout}]",
                f"runs_root={out / 'runs'}",
                f"name=grid-{lr}",
                "progress=false",
                "trainer.eval_every=null",
            ],
        )
        result = train_on_sessions(config)
        q = result.metrics["eval"]["quality"]
        rows.append(
            {
                "lr": lr,
                "steps": result.steps,
                "seconds": time.perf_counter() - t0,
                **{
                    k: q.get(k)
                    for k in (
                        "heldout",
                        "mse",
                        "mse_baseline",
                        "counterfactual_accuracy",
                        "position_error_px",
                    )
                },
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        if on_row is not None:
            on_row(rows)
    return rows


#: (file suffix, function) -> the part of staged training's wall time it stands for.
PARTS = {
    "train steps (incl. compiles)": ("staged_train.py", "train_batch"),
    "validation checks": ("staged_train.py", "check"),
    "stage reports": ("staged_report.py", "write_stage_report"),
    "final report": ("staged_report.py", "write_reports"),
    "checkpoint saves": ("core/checkpoint.py", "save"),
    "checkpoint restores": ("core/checkpoint.py", "restore"),
    "optuna storage opens": ("sweep/storage.py", "open_storage"),
    "reading sessions": ("staged_train.py", "load_stage_data"),
}


def wall_breakdown(profile: cProfile.Profile, seconds: float) -> dict:
    """Cumulative seconds (and share of the wall time) of each part of :data:`PARTS`."""
    stats = pstats.Stats(profile).stats
    out = {}
    for part, (suffix, name) in PARTS.items():
        cum = sum(v[3] for k, v in stats.items() if k[2] == name and k[0].endswith(suffix))
        out[part] = {"seconds": round(cum, 1), "share": round(cum / seconds, 3)}
    return out


def staged(args, train: Path, heldout: Path, out: Path) -> dict:
    from sensorimotor.train.canvas import load_staged_config, train_staged
    from sensorimotor.train.canvas.staged_train import build_model, load_stage_data, load_weights

    t0 = time.perf_counter()
    config = load_staged_config(
        [
            f"root_session={train}",
            f"model={args.model}",
            f"runs_root={out / 'runs'}",
            "name=staged",
            "progress=false",
            f"stage_samples_multiplier={args.multiplier}",
            *augment_overrides(args),
            *args.staged,
        ]
    )
    if args.profile:
        profile = cProfile.Profile()
        result = profile.runcall(train_staged, config)
    else:
        result = train_staged(config)
    seconds = time.perf_counter() - t0
    progress = json.loads((result.run_dir / "run0" / "progress.json").read_text())
    last = progress["stages"][max(progress["stages"], key=int)]
    data = load_stage_data(config, str(train), str(heldout), [str(train)])
    model = build_model(config, data, last["lr_final"], 0, load_weights(last["checkpoint"])[0])
    return {
        "train_steps": result.metrics["train_steps"],
        "sweep_steps": result.metrics["sweep_steps"],
        "steps": result.metrics["train_steps"] + result.metrics["sweep_steps"],
        "seconds": seconds,
        "final_lr": last["lr_final"],
        "stages": [
            {
                k: r[k]
                for k in (
                    "stage",
                    "size",
                    "steps",
                    "sweep_steps",
                    "lr_final",
                    "best_hybrid",
                    "stopped_by",
                )
            }
            | {"sweeps": [(s["kind"], s["lr"], s["accepted"]) for s in r["sweeps"]]}
            for r in progress["stages"].values()
        ],
        **heldout_quality(model, heldout, config),
    } | ({"profile": wall_breakdown(profile, seconds)} if args.profile else {})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--train-steps", type=int, default=600)
    p.add_argument("--heldout-steps", type=int, default=400)
    p.add_argument(
        "--grid", type=lambda s: [float(x) for x in s.split(",")], default=[3e-4, 1e-3, 3e-3, 1e-2]
    )
    p.add_argument("--grid-steps", type=int, default=1500)
    p.add_argument("--multiplier", type=float, default=16)
    p.add_argument("--model", default="canvas")
    p.add_argument("--augment", default="roll_x,roll_y", help="'' = no shift augmentation")
    p.add_argument("--seam-fraction", type=float, default=0.5)
    p.add_argument("--staged", nargs="*", default=[], help="extra staged overrides")
    p.add_argument("--skip-grid", action="store_true")
    p.add_argument("--skip-staged", action="store_true")
    p.add_argument(
        "--profile", action="store_true", help="staged arm under cProfile: wall breakdown"
    )
    args = p.parse_args()
    enable_compilation_cache()
    out = Path(args.out)
    sessions = out / "sessions"
    train = record(sessions, "train", args.train_steps, seed=0)
    heldout = record(sessions, "heldout", args.heldout_steps, seed=1)
    report = {"machine": machine_info(), "args": vars(args)}
    save = lambda: (out / "staged_quality.json").write_text(  # noqa: E731
        json.dumps(report, indent=1, default=float)
    )
    if not args.skip_staged:
        report["staged"] = staged(args, train, heldout, out)
        print(json.dumps(report["staged"]), flush=True)
        save()
    if not args.skip_grid:
        report["grid"] = grid(
            args, train, heldout, out, on_row=lambda rows: (report.update(grid=rows), save())
        )
        report["grid_best"] = min(report["grid"], key=lambda r: r["mse"])
        report["grid_steps_total"] = sum(r["steps"] for r in report["grid"])
        report["grid_seconds_total"] = sum(r["seconds"] for r in report["grid"])
        save()
    if "staged" in report and "grid" in report:
        report["compute_ratio_steps"] = report["staged"]["steps"] / report["grid_steps_total"]
        report["compute_ratio_seconds"] = report["staged"]["seconds"] / report["grid_seconds_total"]
        save()
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
