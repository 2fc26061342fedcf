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
    _register_staged(actions)


def _register_staged(actions: argparse._SubParsersAction) -> None:
    splits = actions.add_parser(
        "splits",
        help="write progressive train/validation splits of a session (views, no frame copies)",
        description="Write the progressive splits of SESSION for staged training: stage N covers the "
        "first INITIAL_SIZE*2^(N-1) observations (the whole session last), the first TRAIN_RATIO of "
        "them for training, the rest for validation, as view sessions named "
        "<session>_stage<N>_train_<size> / _validate_<size> beside it that reference its frames.",
    )
    splits.add_argument(
        "session", metavar="SESSION", help="the root session (path or robot_type/name)"
    )
    splits.add_argument("--initial-size", type=int, default=10, help="default: %(default)s")
    splits.add_argument("--train-ratio", type=float, default=0.7, help="default: %(default)s")
    splits.add_argument("--sessions-root", default="saved/sessions", help="default: %(default)s")
    splits.set_defaults(func=_splits)

    staged = actions.add_parser(
        "staged",
        help="staged training on growing splits with LR sweeps (Optuna), recovery and HTML reports",
        description="Train the canvas world model stage by stage on growing splits of one session, "
        "carrying the weights forward, sweeping the learning rate before each stage and when progress "
        "stalls, stopping when validation diverges; writes per-stage reports and "
        "final_report_<yyyy_mon_dd>.html. Every config key is also a KEY=VALUE override "
        "(see configs/robots/canvas_staged.yaml), e.g. sensorimotor canvas staged --root-session "
        "toroidal_dot/a model=canvas_tiny sweep.phase_a_trials=6",
    )
    staged.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    staged.add_argument("--root-session", help="train on this session's progressive splits")
    staged.add_argument("--train-session", help="one stage: this training session ...")
    staged.add_argument("--val-session", help="... and this validation session")
    staged.add_argument("--original-session", help="hybrid loss over this session (default: both)")
    staged.add_argument("--stage", type=int, help="run only stage N (1-based)")
    staged.add_argument("--runs-per-stage", type=int, help="independent chains (mean ± std)")
    staged.add_argument(
        "--parallel", action="store_true", help="run the chains as processes at once"
    )
    staged.add_argument(
        "--checkpoint", help="start from this run's (or checkpoint folder's) weights"
    )
    staged.add_argument("--stage-time-budget-min", type=float, help="wall-clock cap per stage")
    staged.add_argument(
        "--baseline", action="store_true", help="also train fresh weights per stage"
    )
    staged.add_argument(
        "--storage", help="Optuna storage URL shared by sweeps (default: SQLite in the run)"
    )
    staged.add_argument("--workers", type=int, help="sweep trial processes on this machine")
    staged.add_argument(
        "--config", metavar="FILE.yaml", help="a saved staged config (e.g. a run's config.yaml)"
    )
    staged.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted staged run")
    staged.set_defaults(func=_staged)


_FLAGS = {
    "root_session": "root_session",
    "train_session": "train_session",
    "val_session": "val_session",
    "original_session": "original_session",
    "stage": "stage",
    "runs_per_stage": "runs_per_stage",
    "checkpoint": "checkpoint",
    "stage_time_budget_min": "stage_time_budget_min",
    "storage": "sweep.storage",
    "workers": "sweep.workers",
}


def _staged_overrides(args: argparse.Namespace) -> list[str]:
    import json as _json

    flags = [
        f"{key}={_json.dumps(getattr(args, name))}"
        for name, key in _FLAGS.items()
        if getattr(args, name) is not None
    ]
    flags += ["parallel=true"] * args.parallel + ["baseline=true"] * args.baseline
    return flags + list(args.overrides)


def _staged(args: argparse.Namespace) -> int:
    from sensorimotor.core.errors import UserError
    from sensorimotor.train.canvas import (
        StagedConfig,
        load_staged_config,
        resume_config,
        train_staged,
    )

    overrides = _staged_overrides(args)
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise UserError(f"expected KEY=VALUE overrides, got {bad}")
    if args.resume:
        result = train_staged(
            resume_config(args.resume, overrides, StagedConfig), resume=args.resume
        )
    else:
        result = train_staged(load_staged_config(overrides, args.config))
    if result.stopped_by == "interrupt":
        print(f"interrupted; continue with: sensorimotor canvas staged --resume {result.run_dir}")
        return 130
    best = result.metrics.get("best_hybrid", {})
    for key, value in best.items():
        print(f"chain/stage {key}: best hybrid loss {value:.4g}")
    print(f"run directory: {result.run_dir} (final_report_*.html)")
    return 0


def _splits(args: argparse.Namespace) -> int:
    from sensorimotor.robots.session import find_session
    from sensorimotor.train.canvas import make_splits

    for s in make_splits(
        find_session(args.session, args.sessions_root), args.initial_size, args.train_ratio
    ):
        print(f"stage {s.stage}: {s.size} observations: {s.train.name}, {s.validate.name}")
    return 0


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
