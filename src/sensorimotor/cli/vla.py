"""``sensorimotor vla ...``: demonstrations, training and closed-loop evaluation of the VLA.

sensorimotor vla demos out=saved/vla_demos episodes_per_task=80 image_size=48 workers=2
sensorimotor vla train model=debug trainer=debug data.path=saved/vla_demos
sensorimotor vla train model=base cluster=slurm cluster.fsdp=8 model.dtype=bfloat16
sensorimotor vla eval runs/vla-... --episodes 20
"""

from __future__ import annotations

import argparse
import json

from sensorimotor.cli.common import add_overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    vla = subparsers.add_parser("vla", help="vision-language-action model: demos, train, eval")
    sub = vla.add_subparsers(dest="vla_command", metavar="ACTION", required=True)
    demos = sub.add_parser(
        "demos",
        help="render scripted-expert demonstrations in bimanual_bricks (LeRobot v3 dataset)",
        description="Keys: out, tasks (pick_left, push_right, pick_any), episodes_per_task, "
        "image_size, cameras (scene camera names), control_hz, workers, seed, codec, crf.",
    )
    add_overrides(demos, "out=saved/vla_demos episodes_per_task=80 image_size=48")
    demos.add_argument("--no-progress", action="store_true", help="no progress bar")
    demos.set_defaults(func=_demos)
    train = sub.add_parser(
        "train",
        help="train a VLA (model=debug|base|large trainer=debug|default cluster=local|slurm)",
        description="Compose configs/vla/train.yaml with groups and dotted overrides, e.g. "
        "`vla train model=debug trainer=debug data.path=saved/vla_demos model.head=mse`.",
    )
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint"
    )
    add_overrides(train, "model=debug trainer=debug data.path=saved/vla_demos")
    train.set_defaults(func=_train)
    ev = sub.add_parser("eval", help="closed-loop success per task in MuJoCo, videos, report.html")
    ev.add_argument("run_dir", help="a vla train run folder")
    ev.add_argument(
        "--episodes", type=int, default=20, help="episodes per task (default: %(default)s)"
    )
    ev.add_argument(
        "--execute", type=int, default=None, help="actions executed per chunk (default: horizon/2)"
    )
    ev.add_argument("--videos", type=int, default=2, help="videos per task (default: %(default)s)")
    ev.add_argument("--seed", type=int, default=0, help="evaluation seed (default: %(default)s)")
    ev.add_argument(
        "--tasks", nargs="*", default=None, help="tasks to evaluate (default: the demos' tasks)"
    )
    ev.add_argument(
        "--out",
        default="eval",
        help="folder in the run for the summary, videos and report (default: %(default)s); "
        "separate names let several evaluations of one run (e.g. one per task) run at once",
    )
    ev.set_defaults(func=_eval)


def _demos(args: argparse.Namespace) -> int:
    from sensorimotor.core.config import apply_overrides
    from sensorimotor.vla.demos import DemoConfig, make_demos

    cfg = apply_overrides(DemoConfig(), args.overrides)
    print(json.dumps(make_demos(cfg, progress=not args.no_progress), indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    from sensorimotor.train.vla import train
    from sensorimotor.train.vla_config import load_vla_config

    result = (
        train(None, resume=args.resume) if args.resume else train(load_vla_config(args.overrides))
    )
    summary = {
        "run_dir": str(result.run_dir),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
    }
    print(json.dumps({**summary, "stopped_by": result.stopped_by, **result.metrics}, indent=2))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from sensorimotor.train.vla_eval import evaluate_run

    summary = evaluate_run(
        args.run_dir,
        episodes=args.episodes,
        execute=args.execute,
        videos=args.videos,
        seed=args.seed,
        tasks=args.tasks,
        out=args.out,
    )
    print(json.dumps(summary, indent=2))
    return 0
