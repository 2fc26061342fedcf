"""The diffusion BC baseline for the VLA: the project's diffusion policy on the same demos.

The policy (``policies.diffusion`` through ``create_policy``) is an MLP, so its observation is a
flat vector: both cameras average-pooled to ``pool x pool`` pixels, the joint state and a one-hot
of the instruction (among every instruction the tasks can produce). It predicts the same
``horizon x 12`` action chunks and is evaluated exactly like a VLA run (same seeds, receding
horizon, task success checks).

python -m sensorimotor.train.vla_baseline saved/vla_demos runs/vla_diffusion_bc --steps 3000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from sensorimotor.core.rng import derive_seed, np_rng
from sensorimotor.sim.brick_tasks import COLORS, INSTRUCTIONS
from sensorimotor.vla.data import DemoEpisode, load_demos

ALL_INSTRUCTIONS = [t.format(color=c) for t in INSTRUCTIONS.values() for c in COLORS]


def features(
    images: dict[str, np.ndarray], state: np.ndarray, instruction: str, pool: int
) -> np.ndarray:
    """Flat observations ``(T, D)``: pooled images of every camera, state, instruction one-hot."""
    parts = []
    for frames in images.values():
        t, h, w, c = frames.shape
        pooled = frames.reshape(t, pool, h // pool, pool, w // pool, c).mean(axis=(2, 4)) / 255.0
        parts.append(pooled.reshape(t, -1))
    onehot = np.zeros((len(state), len(ALL_INSTRUCTIONS)), np.float32)
    onehot[:, ALL_INSTRUCTIONS.index(instruction)] = 1.0
    return np.concatenate([*parts, state, onehot], axis=1).astype(np.float32)


def chunks(actions: np.ndarray, horizon: int) -> np.ndarray:
    """``(T, horizon, A)``: actions ``t .. t+H-1``, the last repeated past the end."""
    idx = np.minimum(np.arange(len(actions))[:, None] + np.arange(horizon)[None], len(actions) - 1)
    return actions[idx]


def train_baseline(
    episodes: list[DemoEpisode], *, horizon: int, pool: int, steps: int, batch: int, seed: int
) -> Any:
    """A diffusion BC policy fitted on ``episodes``."""
    from sensorimotor.learners.spec import Spec
    from sensorimotor.policies.factory import create_policy

    x = np.concatenate([features(e.images, e.state, e.instruction, pool) for e in episodes])
    y = np.concatenate([chunks(e.action, horizon) for e in episodes])
    lo, hi = y.reshape(-1, y.shape[-1]).min(0) - 1e-3, y.reshape(-1, y.shape[-1]).max(0) + 1e-3
    spec = Spec(
        obs_dim=x.shape[1],
        action_dim=y.shape[-1],
        action_low=tuple(lo.tolist()),
        action_high=tuple(hi.tolist()),
        action_horizon=horizon,
        obs_shift=tuple(x.mean(0).tolist()),
        obs_scale=tuple(np.maximum(x.std(0), 1e-3).tolist()),
    )
    policy = create_policy(
        "diffusion", spec, config={"hidden": (512, 512, 512), "lr": 3e-4}, seed=seed
    )
    per_call = 50
    for k in range(steps // per_call):
        index = np_rng(seed, "baseline", k).integers(0, len(x), (per_call, batch))
        policy, _ = policy.update_many({"observations": x[index], "actions": y[index]})
    return policy


class DiffusionController:
    """Receding-horizon control with the diffusion BC policy: a new chunk every ``execute`` steps."""

    def __init__(
        self, policy: Any, instruction: str, horizon: int, pool: int, execute: int, seed: int
    ) -> None:
        self.policy, self.instruction = policy, instruction
        self.horizon, self.pool, self.execute = horizon, pool, execute
        self.key = jax.random.key(seed)
        self.queue: list[np.ndarray] = []

    def __call__(self, frames: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        if not self.queue:
            images = {c: f[None] for c, f in frames.items()}
            obs = features(images, state[None], self.instruction, self.pool)
            self.key, sub = jax.random.split(self.key)
            chunk = np.asarray(self.policy.sample_actions(obs[0], sub))[0]
            self.queue = list(chunk.reshape(self.horizon, -1)[: self.execute])
        return self.queue.pop(0)


def evaluate_baseline(
    policy: Any,
    demos_cfg: Any,
    *,
    horizon: int,
    pool: int,
    episodes: int,
    execute: int,
    seed: int,
    tasks: list[str],
) -> dict[str, Any]:
    """Success per task on the evaluation seeds of ``vla eval``."""
    from sensorimotor.sim.brick_experts import EPISODE_STEPS
    from sensorimotor.sim.brick_tasks import BrickTaskEnv, sample_episode
    from sensorimotor.sim.render import Renderer
    from sensorimotor.train.vla_eval import run_episode

    env = BrickTaskEnv(demos_cfg.control_hz)
    renderer = Renderer(env.model, demos_cfg.image_size, demos_cfg.image_size)
    results = {}
    for task in tasks:
        wins = []
        for i in range(episodes):
            episode = sample_episode(task, derive_seed(seed, "vla-eval", task, i))
            act = DiffusionController(
                policy,
                episode.instruction,
                horizon,
                pool,
                execute,
                derive_seed(seed, "act", task, i),
            )
            wins.append(run_episode(env, renderer, demos_cfg.cameras, episode, act, EPISODE_STEPS))
        results[task] = {"success": float(np.mean(wins)), "episodes": episodes}
    renderer.close()
    return results


def main(argv: list[str] | None = None) -> int:
    from sensorimotor.vla.demos import DemoConfig

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("demos")
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--pool", type=int, default=12)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    from sensorimotor.vla.data import split_episodes

    demos_cfg = DemoConfig(**json.loads((Path(args.demos) / "meta" / "vla_demos.json").read_text()))
    cams = tuple(c.replace("/", "_") for c in demos_cfg.cameras)
    episodes = load_demos(args.demos, cams)
    train_idx, _ = split_episodes(
        len(episodes), args.val_fraction, args.seed
    )  # same split as vla train
    policy = train_baseline(
        [episodes[i] for i in train_idx],
        horizon=args.horizon,
        pool=args.pool,
        steps=args.steps,
        batch=args.batch,
        seed=args.seed,
    )
    results = evaluate_baseline(
        policy,
        demos_cfg,
        horizon=args.horizon,
        pool=args.pool,
        episodes=args.episodes,
        execute=args.horizon // 2,
        seed=args.seed,
        tasks=list(demos_cfg.tasks),
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"policy": "diffusion_bc", "steps": args.steps, "tasks": results, "args": vars(args)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
