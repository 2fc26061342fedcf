"""``rl``: train, resume and evaluate RL agents; generate demonstration datasets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from sensorimotor.cli.common import add_overrides

if TYPE_CHECKING:
    from sensorimotor.train.loop import RunResult


def register(subparsers: argparse._SubParsersAction) -> None:
    rl = subparsers.add_parser(
        "rl",
        help="reinforcement and imitation learning (SAC, BC, IQL, PA-RL, TD-MPC2)",
        description="Train, resume and evaluate RL agents; generate demonstration datasets.",
    )
    sub = rl.add_subparsers(dest="action", metavar="ACTION", required=True)

    train = sub.add_parser(
        "train",
        help="train an agent (online, offline or offline-to-online)",
        description="Train an agent. Example: sensorimotor rl train algo=sac task=pendulum seed=0 "
        "steps=20000. Algos: sac, bc, iql, pa_rl, ric, tdmpc2; tasks: pendulum, multimodal_reach, "
        "cartpole-swingup, pendulum-swingup, reacher-easy, cheetah-run (or task.name=gym:<id> / "
        "dmc:<domain-task>). Any key is a dotted override, e.g. algo.agent.policy_type=diffusion.",
    )
    add_overrides(train, "algo=sac task=pendulum steps=20000 batch_size=128")
    train.set_defaults(func=train_command)

    resume = sub.add_parser("resume", help="continue a run from its latest intact checkpoint")
    resume.add_argument("run", help="run directory (runs/<name>)")
    resume.set_defaults(func=resume_command)

    ev = sub.add_parser(
        "eval",
        help="evaluate a saved agent or policy in its task",
        description="Run evaluation episodes with a saved agent (a run directory or a checkpoint "
        "directory) and print the returns as JSON.",
    )
    ev.add_argument("path", help="run directory or checkpoint directory")
    ev.add_argument("--task", help="task name (default: the run's task)")
    ev.add_argument(
        "--episodes", type=int, default=10, help="evaluation episodes (default: %(default)s)"
    )
    ev.add_argument(
        "--seed", type=int, default=12345, help="environment seed (default: %(default)s)"
    )
    ev.add_argument("--stochastic", action="store_true", help="sample instead of acting greedily")
    ev.set_defaults(func=eval_command)

    demos = sub.add_parser(
        "demos",
        help="roll an expert in a task and save a demonstration dataset (.npz or .h5)",
        description="Generate demonstrations: sensorimotor rl demos pendulum --episodes 50 "
        "--out saved/datasets/pendulum.h5 (expert: 'scripted' or a checkpoint directory).",
    )
    demos.add_argument("task", help="RL task name (see rl train task=...)")
    demos.add_argument(
        "--episodes", type=int, default=50, help="episodes to record (default: %(default)s)"
    )
    demos.add_argument("--out", required=True, help="output file (.npz, .h5 or .hdf5)")
    demos.add_argument(
        "--expert",
        default="scripted",
        help="scripted, or a checkpoint to act with (default: %(default)s)",
    )
    demos.add_argument("--noise", type=float, default=0.0, help="Gaussian action noise (x range/2)")
    demos.add_argument(
        "--seed", type=int, default=0, help="environment seed (default: %(default)s)"
    )
    demos.set_defaults(func=demos_command)


def train_command(args: argparse.Namespace) -> int:
    from sensorimotor.train.rl import load_rl_config, train

    cfg = load_rl_config(args.overrides)
    _summary(train(cfg))
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from sensorimotor.train.rl import train

    _summary(train(None, resume=args.run))
    return 0


def _summary(result: RunResult) -> None:
    from sensorimotor.core.tracking import read_metrics

    path = result.run_dir
    if result.stopped_by != "completed":
        print(f"stopped early ({result.stopped_by}) at step {result.steps}; resume with "
              f"sensorimotor rl resume {path}")  # fmt: skip

    evals = [r for r in read_metrics(path / "metrics.jsonl") if "evaluation/return_mean" in r]
    if evals:
        last = evals[-1]
        print(
            f"final evaluation at step {last['step']}: return {last['evaluation/return_mean']:.2f}"
            f" ± {last.get('evaluation/return_std', float('nan')):.2f}"
        )
    print(f"run: {path}\nreport: {path / 'report.html'}")


def eval_command(args: argparse.Namespace) -> int:
    from sensorimotor.agents.factory import load_learner
    from sensorimotor.core.errors import UserError
    from sensorimotor.train.rl import RLTrainConfig, evaluate_agent

    path = Path(args.path)
    task, kwargs, horizons = args.task, {}, (1, 1)
    ckpt = path
    if (path / "config.yaml").is_file() and (path / "checkpoints").is_dir():
        from sensorimotor.core.config import load_saved_config

        cfg = load_saved_config(path / "config.yaml", RLTrainConfig)
        task = task or cfg.task.name
        kwargs = cfg.task.kwargs
        ckpt = path / "checkpoints"
    learner = load_learner(ckpt)
    if learner.kind != "agent":
        raise UserError(f"{ckpt}: holds a {learner.kind}; rl eval needs an agent checkpoint")
    horizons = (learner.spec.obs_horizon, learner.spec.action_horizon)
    if not task:
        raise UserError("--task is needed when PATH is a checkpoint directory, not a run")
    res = evaluate_agent(
        learner, task, episodes=args.episodes, seed=args.seed,
        deterministic=not args.stochastic, env_kwargs=kwargs,
        obs_horizon=horizons[0], action_horizon=horizons[1], mode_samples=2000, progress=True,
    )  # fmt: skip
    print(json.dumps(res, indent=2))
    return 0


def demos_command(args: argparse.Namespace) -> int:
    from sensorimotor.agents.tasks import make_expert
    from sensorimotor.agents.tasks.demos import collect_demos

    buf = collect_demos(
        args.task, make_expert(args.task, args.expert), episodes=args.episodes, seed=args.seed,
        noise=args.noise,
    )  # fmt: skip
    out = buf.save(args.out)
    print(
        f"{len(buf)} steps from {args.episodes} episodes "
        f"(mean return {buf.metadata['mean_return']:.2f}) -> {out}"
    )
    return 0
