"""Running an agent in its task: observation windows and batched evaluation episodes."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from sensorimotor.agents.base import Agent
from sensorimotor.agents.tasks import make_env
from sensorimotor.core.rng import derive_seed


class ObsWindow:
    """The last ``To`` observations of one episode (padded with the first), flattened."""

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.items: deque[np.ndarray] = deque(maxlen=horizon)

    def reset(self, obs: np.ndarray) -> None:
        self.items.clear()
        for _ in range(self.horizon):
            self.items.append(np.asarray(obs, np.float32))

    def push(self, obs: np.ndarray) -> None:
        self.items.append(np.asarray(obs, np.float32))

    def flat(self) -> np.ndarray:
        return np.concatenate(list(self.items))


def evaluate_agent(
    agent: Agent,
    task: str,
    *,
    episodes: int,
    seed: int,
    deterministic: bool = True,
    env_kwargs: Mapping[str, Any] | None = None,
    obs_horizon: int = 1,
    action_horizon: int = 1,
    mode_samples: int = 0,
) -> dict[str, float]:
    """Mean/std return of ``episodes`` episodes run side by side (one batched ``act`` per step).

    On the multimodal bandit also the fraction of sampled actions in each mode, over
    ``mode_samples`` fresh start points (``best_mode_fraction``: the most valuable one).
    """
    envs = [make_env(task, seed=seed + i, **dict(env_kwargs or {})) for i in range(episodes)]
    key = jax.random.PRNGKey(derive_seed(seed, "evaluate"))
    try:
        obs = [e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]
        windows = [ObsWindow(obs_horizon) for _ in envs]
        for w, o in zip(windows, obs, strict=True):
            w.reset(o)
        queues: list[deque] = [deque() for _ in envs]
        returns = np.zeros(episodes)
        lengths = np.zeros(episodes, np.int64)
        done = np.zeros(episodes, bool)
        state = agent.init_act_state(episodes)
        first = np.ones(episodes, bool)
        while not done.all():
            need = [i for i in range(episodes) if not done[i] and not queues[i]]
            if need:
                key, k = jax.random.split(key)
                flat = np.stack([windows[i].flat() for i in range(episodes)])
                actions, state = agent.act(flat, k, state, first=first, deterministic=deterministic)
                actions = np.asarray(actions).reshape(episodes, action_horizon, -1)
                for i in need:
                    queues[i].extend(actions[i])
            first[:] = False
            for i, env in enumerate(envs):
                if done[i]:
                    continue
                o, r, term, trunc, _ = env.step(queues[i].popleft())
                returns[i] += r
                lengths[i] += 1
                windows[i].push(o)
                if term or trunc:
                    done[i] = True
                    queues[i].clear()
        out = {
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "episode_length": float(lengths.mean()),
        }
        bandit = envs[0].unwrapped
        if mode_samples and hasattr(bandit, "mode_fractions"):
            rng = np.random.default_rng(derive_seed(seed, "modes"))
            starts = bandit.sample_starts(mode_samples, rng)
            key, k = jax.random.split(key)
            flat = np.tile(starts, (1, obs_horizon))
            acts, _ = agent.act(
                flat, k, agent.init_act_state(mode_samples), first=np.ones(mode_samples, bool),
                deterministic=False,
            )  # fmt: skip
            acts = np.asarray(acts).reshape(mode_samples, action_horizon, -1)[:, 0]
            fr = bandit.mode_fractions(starts, acts)
            out.update(fr)
            out["best_mode_fraction"] = fr[f"mode_{bandit.best_mode}"]
            out["reward_mean"] = float(bandit.reward(starts, acts).mean())
        return out
    finally:
        for e in envs:
            e.close()
