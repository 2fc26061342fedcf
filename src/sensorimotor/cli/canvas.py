"""``sensorimotor canvas train|eval``: the canvas world model on recorded sessions."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "canvas",
        help="train or evaluate the canvas world model on recorded sessions",
        description="Batch-train the canvas world model on recorded sessions, or evaluate a trained one.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser(
        "train",
        help="train on sessions (canvases built once, batches prefetched)",
        description="Train the canvas world model on recorded sessions. Sessions are paths or "
        "robot_type/name under sessions_root. Example: sensorimotor canvas train toroidal_dot/a "
        "toroidal_dot/b eval_sessions=[toroidal_dot/c] steps=3000 model=canvas",
    )
    train.add_argument(
        "items",
        nargs="*",
        metavar="SESSION|KEY=VALUE",
        help="training sessions (paths or robot_type/name) and config overrides (steps=3000, model=canvas)",
    )
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a batch run from its latest checkpoint"
    )
    train.set_defaults(func=_train)

    evaluate = actions.add_parser(
        "eval",
        help="evaluate a run's latest checkpoint on sessions (loss statistics, quality vs baseline)",
        description="Evaluate the latest checkpoint of a canvas run (online or batch) on recorded sessions: "
        "masked-slot loss mean/median/std/percentiles over every canvas, and the quality metrics against the "
        "copy-the-last-frame baseline.",
    )
    evaluate.add_argument(
        "run_dir", metavar="RUN_DIR", help="a canvas run folder (sensorimotor run or canvas train)"
    )
    evaluate.add_argument(
        "sessions",
        nargs="+",
        metavar="SESSION",
        help="sessions to evaluate on: name, robot_type/name or a path",
    )
    evaluate.add_argument("--sessions-root", default="saved/sessions", help="default: %(default)s")
    evaluate.add_argument(
        "--max-canvases", type=int, default=300, help="held-out canvases for the quality metrics"
    )
    evaluate.add_argument("--json", action="store_true", help="print the full result as JSON")
    evaluate.set_defaults(func=_eval)


def _train(args: argparse.Namespace) -> int:
    from sensorimotor.core.errors import UserError
    from sensorimotor.train.canvas import (
        CanvasTrainConfig,
        load_train_config,
        resume_config,
        train_on_sessions,
    )

    sessions = [i for i in args.items if "=" not in i]
    overrides = [i for i in args.items if "=" in i]
    if args.resume:
        if sessions:
            raise UserError(
                "with --resume the sessions come from the run's config; give no SESSION arguments"
            )
        config = resume_config(args.resume, overrides, CanvasTrainConfig)
        result = train_on_sessions(config, resume=args.resume)
    else:
        result = train_on_sessions(load_train_config(sessions, overrides))
    _print_losses(result.metrics)
    print(f"run directory: {result.run_dir} (report.html)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from sensorimotor.train.canvas import evaluate_canvas_run

    result = evaluate_canvas_run(args.run_dir, args.sessions, args.sessions_root, args.max_canvases)
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    else:
        _print_losses({"eval": result})
    return 0


def _print_losses(summary: dict) -> None:
    from sensorimotor.worldmodels.quality import degenerate_metrics

    for name in ("train", "eval"):
        if name not in summary:
            continue
        loss, base = summary[name]["loss"], summary[name]["baseline"]
        print(
            f"{name}: {loss['count']} canvases, loss mean {loss['mean']:.3e} median {loss['median']:.3e} "
            f"std {loss['std']:.3e} p95 {loss['p95']:.3e} (copy-last-frame baseline mean {base['mean']:.3e})"
        )
        q = summary[name].get("quality") or {}
        for note in degenerate_metrics(q) if q else []:
            print(f"  warning: {note}", file=sys.stderr)
        if "counterfactual_accuracy" in q:
            print(
                f"  held-out {q['heldout']}: position error {q['position_error_px']:.2f} px "
                f"(baseline {q['position_error_baseline_px']:.2f}), counterfactual accuracy "
                f"{100 * q['counterfactual_accuracy']:.1f} % (baseline {100 * q['counterfactual_accuracy_baseline']:.1f} %)"
            )
