"""``sensorimotor run``: the main job — a canvas world model learning online on a robot."""

from __future__ import annotations

import argparse

from sensorimotor.cli.common import add_overrides

DESCRIPTION = """\
Run a robot with an action selector while a canvas world model (a masked-autoencoder ViT) learns
online to predict the next camera frame: each step it observes a frame, scores its previous
prediction, trains on the newest canvas, picks an action and predicts the next frame under it.
Before training, a validation session is recorded with another seed; at the end the model is
scored on it against the copy-the-last-frame baseline. Everything lands in runs/<name>/
(config, metrics.jsonl, checkpoints/, sessions/, summary.json, report.html).

Defaults: toroidal-dot robot, random-duration selector, a CPU-sized canvas model (model=canvas).
Ctrl-C stops cleanly with a checkpoint; --resume RUN_DIR continues exactly where it stopped.

examples:
  sensorimotor run
  sensorimotor run steps=500 robot.dot_radius=7 trainer.lr=1e-3
  sensorimotor run model=canvas_tiny trainer=debug steps=20 validation.steps=30
  sensorimotor run model=adaptive steps=3000   # the adaptive world model (MAE + action predictor)
  sensorimotor run --resume runs/run-20260101-120000 steps=5000"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the main job: a canvas world model learns online to predict a robot's next frame",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its latest checkpoint (overrides may change e.g. steps)",
    )
    add_overrides(parser, "robot.dot_radius=7 trainer.lr=1e-3 steps=2000")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensorimotor.train.adaptive import is_adaptive, load_any_run_config
    from sensorimotor.train.canvas import CanvasRunConfig, resume_config, run_canvas

    if args.resume:
        config = resume_config(args.resume, args.overrides, CanvasRunConfig)
    else:
        config = load_any_run_config(args.overrides)
    if is_adaptive(config.model):
        from sensorimotor.train.adaptive import run_adaptive

        result = run_adaptive(config, resume=args.resume)
    else:
        result = run_canvas(config, resume=args.resume)
    return 0 if result.stopped_by in ("steps", "interrupt", "exhausted") else 1
