"""Demonstration datasets: roll an expert in a task and store the transitions."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from sensorimotor.agents.buffer import ReplayBuffer
from sensorimotor.agents.tasks import Expert, make_env


def collect_demos(
    task: str,
    expert: Expert,
    *,
    episodes: int,
    seed: int = 0,
    noise: float = 0.0,
    env_kwargs: dict | None = None,
    progress: bool = True,
) -> ReplayBuffer:
    """Roll ``expert`` for ``episodes`` episodes (Gaussian action noise ``noise`` x range)."""
    env = make_env(task, seed=seed, **(env_kwargs or {}))
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0]
    steps: dict[str, list] = {
        k: []
        for k in ("observations", "actions", "rewards", "next_observations", "terminals", "lasts")
    }
    returns = []
    try:
        for ep in tqdm(range(episodes), desc=f"demos {task}", disable=not progress):
            obs, _ = env.reset(seed=seed + ep)
            done, ret = False, 0.0
            while not done:
                a = np.asarray(expert(np.asarray(obs)[None], rng))[0]
                if noise:
                    a = a + rng.normal(0.0, noise, a.shape) * (high - low) / 2
                a = np.clip(a, low, high).astype(np.float32)
                nxt, r, term, trunc, _ = env.step(a)
                for k, v in zip(
                    steps,
                    (obs, a, r, nxt, float(term), bool(term or trunc)),
                    strict=True,
                ):
                    steps[k].append(v)
                ret += float(r)
                obs, done = nxt, term or trunc
            returns.append(ret)
    finally:
        env.close()
    buf = ReplayBuffer(max(len(steps["rewards"]), 1), obs_dim, act_dim)
    buf.add_batch({k: np.asarray(v) for k, v in steps.items()})
    buf.metadata = {
        "task": task,
        "episodes": episodes,
        "seed": seed,
        "noise": noise,
        "mean_return": float(np.mean(returns)) if returns else None,
    }
    return buf
