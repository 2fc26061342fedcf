"""Running an agent in its task: observation windows and batched evaluation episodes."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from tqdm import tqdm

from sensorimotor.agents.base import Agent
from sensorimotor.agents.tasks import make_env
from sensorimotor.core.rng import derive_seed


class ObsWindow:
    """The last ``To`` observations of one episode (padded with the first), flattened."""

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.items: deque[np.ndarray] = deque(maxlen=horizon)

    def reset(self, obs: np.ndarray) -> None:
        """Start an episode: the window holds ``obs`` ``To`` times."""
        self.items.clear()
        for _ in range(self.horizon):
            self.items.append(np.asarray(obs, np.float32))

    def push(self, obs: np.ndarray) -> None:
        """Append the newest observation (dropping the oldest)."""
        self.items.append(np.asarray(obs, np.float32))

    def flat(self) -> np.ndarray:
        """The window as one ``(To * D,)`` vector, oldest first."""
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
    progress: bool = False,
) -> dict[str, float]:
    """Mean/std return of ``episodes`` episodes run side by side (one batched ``act`` per step).
    ``progress`` shows a bar of the environment steps and the episodes finished.

    On the multimodal bandit also the fraction of sampled actions in each mode, over
    ``mode_samples`` fresh start points (``best_mode_fraction``: the most valuable one).
    """
    envs = [make_env(task, seed=seed + i, **dict(env_kwargs or {})) for i in range(episodes)]
    key = jax.random.PRNGKey(derive_seed(seed, "evaluate"))
    try:
        returns, lengths, key = _run_episodes(
            agent,
            envs,
            key,
            seed,
            deterministic,
            obs_horizon,
            action_horizon,
            f"evaluate {task}" if progress else None,
        )
        out = {
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "episode_length": float(lengths.mean()),
        }
        bandit = envs[0].unwrapped
        if mode_samples and hasattr(bandit, "mode_fractions"):
            out.update(
                _mode_fractions(agent, bandit, key, seed, mode_samples, obs_horizon, action_horizon)
            )
        return out
    finally:
        for e in envs:
            e.close()


def _run_episodes(
    agent: Agent,
    envs: list[Any],
    key: jax.Array,
    seed: int,
    deterministic: bool,
    obs_horizon: int,
    action_horizon: int,
    progress: str | None = None,
) -> tuple[np.ndarray, np.ndarray, jax.Array]:
    """One episode per environment, acting for all of them at once; returns, lengths, next key.
    ``progress``: the label of a progress bar (none when ``None``)."""
    episodes = len(envs)
    windows = [ObsWindow(obs_horizon) for _ in envs]
    for i, (w, e) in enumerate(zip(windows, envs, strict=True)):
        w.reset(e.reset(seed=seed + i)[0])
    queues: list[deque] = [deque() for _ in envs]
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, np.int64)
    done = np.zeros(episodes, bool)
    state = agent.init_act_state(episodes)
    first = np.ones(episodes, bool)
    bar = tqdm(desc=progress, unit="step", disable=progress is None, leave=False)
    while not done.all():
        need = [i for i in range(episodes) if not done[i] and not queues[i]]
        if need:
            key, k = jax.random.split(key)
            flat = np.stack([w.flat() for w in windows])
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
        bar.update(1)
        bar.set_postfix(episodes_done=f"{int(done.sum())}/{episodes}", refresh=False)
    bar.close()
    return returns, lengths, key


def _mode_fractions(
    agent: Agent,
    bandit: Any,
    key: jax.Array,
    seed: int,
    samples: int,
    obs_horizon: int,
    action_horizon: int,
) -> dict[str, float]:
    """Fraction of sampled first actions in each of the bandit's modes over fresh start points."""
    rng = np.random.default_rng(derive_seed(seed, "modes"))
    starts = bandit.sample_starts(samples, rng)
    key, k = jax.random.split(key)
    flat = np.tile(starts, (1, obs_horizon))
    acts, _ = agent.act(
        flat, k, agent.init_act_state(samples), first=np.ones(samples, bool), deterministic=False
    )
    acts = np.asarray(acts).reshape(samples, action_horizon, -1)[:, 0]
    out = dict(bandit.mode_fractions(starts, acts))
    out["best_mode_fraction"] = out[f"mode_{bandit.best_mode}"]
    out["reward_mean"] = float(bandit.reward(starts, acts).mean())
    return out
