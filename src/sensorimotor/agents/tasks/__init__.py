"""RL task environments that need no download, scripted experts and demonstration datasets.

Tasks (``make_env(name)`` returns a ``gymnasium.Env`` with flat float32 observations and
bounded Box actions):

- ``multimodal_reach``: the 2-D four-mode reach bandit (:mod:`.bandit`);
- ``pendulum``: Gymnasium ``Pendulum-v1`` (200 steps);
- ``cartpole-swingup``, ``pendulum-swingup``, ``reacher-easy``, ``cheetah-run``: dm_control suite
  tasks with action repeat 2 (TD-MPC2's setting: 500 decisions per 1000-step episode);
- ``gym:<id>`` any Gymnasium id, ``dmc:<domain-task>`` any dm_control suite task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sensorimotor.core.errors import ConfigError


@dataclass(frozen=True)
class TaskInfo:
    """How a named task is built."""

    name: str
    kind: str  # "bandit" | "gym" | "dm_control"
    target: str  # gymnasium id or dm_control "domain-task"
    defaults: tuple[tuple[str, Any], ...] = ()
    expert: str | None = None  # name of a scripted expert


TASKS: dict[str, TaskInfo] = {
    "multimodal_reach": TaskInfo("multimodal_reach", "bandit", "", expert="multimodal_reach"),
    "pendulum": TaskInfo("pendulum", "gym", "Pendulum-v1", expert="pendulum"),
    "cartpole-swingup": TaskInfo(
        "cartpole-swingup", "dm_control", "cartpole-swingup", (("action_repeat", 2),)
    ),
    "pendulum-swingup": TaskInfo(
        "pendulum-swingup", "dm_control", "pendulum-swingup", (("action_repeat", 2),)
    ),
    "reacher-easy": TaskInfo("reacher-easy", "dm_control", "reacher-easy", (("action_repeat", 2),)),
    "cheetah-run": TaskInfo("cheetah-run", "dm_control", "cheetah-run", (("action_repeat", 2),)),
}


def task_info(name: str) -> TaskInfo:
    """The :class:`TaskInfo` of ``name`` (also ``gym:<id>`` and ``dmc:<domain-task>``)."""
    if name in TASKS:
        return TASKS[name]
    if name.startswith("gym:"):
        return TaskInfo(name, "gym", name[4:])
    if name.startswith("dmc:"):
        return TaskInfo(name, "dm_control", name[4:], (("action_repeat", 2),))
    raise ConfigError(
        f"unknown RL task {name!r}; expected one of {sorted(TASKS)} or gym:<id> / dmc:<domain-task>"
    )


def make_env(name: str, *, seed: int | None = None, **kwargs: Any) -> gym.Env:
    """A fresh environment for task ``name``; ``kwargs`` override the task's defaults."""
    info = task_info(name)
    options = {**dict(info.defaults), **kwargs}
    if info.kind == "bandit":
        from sensorimotor.agents.tasks.bandit import MultimodalReachEnv

        return MultimodalReachEnv(seed=seed, **options)
    if info.kind == "gym":
        try:
            env = gym.make(info.target, **options)
        except gym.error.Error as e:
            raise ConfigError(f"cannot make Gymnasium env {info.target!r}: {e}") from None
        if seed is not None:
            env.reset(seed=seed)
            env.action_space.seed(seed)
        return env
    from sensorimotor.sim.dm_control_env import make_dm_control_env

    try:
        return make_dm_control_env(info.target, seed=seed, **options)
    except (KeyError, ValueError) as e:
        raise ConfigError(f"cannot make dm_control task {info.target!r}: {e}") from None


def episode_length(env: gym.Env) -> int | None:
    """Steps per episode when fixed (time limit), else ``None``."""
    from sensorimotor.agents.tasks.bandit import MultimodalReachEnv

    if isinstance(env.unwrapped, MultimodalReachEnv):
        return 1
    spec = getattr(env, "spec", None)
    if spec is not None and spec.max_episode_steps:
        return int(spec.max_episode_steps)
    dm = getattr(env.unwrapped, "dm_env", None)
    if dm is not None:
        limit = dm._step_limit if hasattr(dm, "_step_limit") else None
        if limit is not None and np.isfinite(limit):
            repeat = getattr(env.unwrapped, "action_repeat", 1)
            return int(np.ceil(limit / repeat))
    return None


Expert = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def make_expert(task: str, source: str = "scripted", *, env: gym.Env | None = None) -> Expert:
    """An expert ``(obs (B, D), rng) -> actions (B, A)`` for ``task``.

    ``source="scripted"`` uses the task's scripted expert; otherwise ``source`` is a checkpoint
    directory of a trained agent or policy (acting deterministically).
    """
    if source == "scripted":
        info = task_info(task)
        if info.expert == "multimodal_reach":
            from sensorimotor.agents.tasks.bandit import MultimodalReachEnv

            bandit = env.unwrapped if env is not None else make_env(task)
            assert isinstance(bandit, MultimodalReachEnv)
            return lambda obs, rng: bandit.expert_actions(obs, rng)
        if info.expert == "pendulum":
            from sensorimotor.agents.tasks.pendulum import pendulum_expert

            return lambda obs, rng: pendulum_expert(obs)
        raise ConfigError(
            f"task {task!r} has no scripted expert; pass a trained checkpoint as the expert"
        )
    from sensorimotor.agents.factory import load_learner

    learner = load_learner(source)
    if not hasattr(learner, "sample_actions"):
        raise ConfigError(f"{source}: holds a {learner.kind}, which cannot act")
    import jax

    key = [jax.random.PRNGKey(0)]

    def act(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        key[0], k = jax.random.split(key[0])
        return np.asarray(learner.sample_actions(obs, k, 1, True))[:, 0]

    return act
