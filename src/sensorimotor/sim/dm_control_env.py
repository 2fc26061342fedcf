"""dm_control suite tasks as `gymnasium.Env`s with flat float32 observations.

``make_dm_control_env("cartpole-swingup")`` loads the suite task ``cartpole``/``swingup``
and wraps it:

- observation: the task's observation dict concatenated into one ``float32`` vector of
  shape ``(D,)`` in the order of ``observation_spec()`` (``env.observation_keys`` and
  ``env.observation_slices`` say which entries are where);
- action: a ``float32`` :class:`gymnasium.spaces.Box` built from ``action_spec()``;
  actions are clipped into it;
- reward: the task reward, summed over ``action_repeat`` control steps;
- the task's time limit ends an episode with ``truncated=True``; a task that ends with
  discount 0 ends it with ``terminated=True``;
- ``reset(seed=s)`` re-seeds the task's random state, so the same seed gives the same
  initial state;
- ``render_mode="rgb_array"`` renders ``uint8 (H, W, 3)`` frames from ``camera_id``.

Only gymnasium, numpy and dm_control are used, so this module stands on its own.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["DmControlEnv", "make_dm_control_env", "parse_task_name", "suite_task_names"]


def _ensure_headless_gl() -> None:
    """Default to EGL rendering when there is no display (dm_control reads ``MUJOCO_GL``)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def suite_task_names() -> list[str]:
    """All dm_control suite tasks as ``"domain-task"`` names, sorted."""
    _ensure_headless_gl()
    from dm_control import suite

    return sorted(f"{domain}-{task}" for domain, task in suite.ALL_TASKS)


def parse_task_name(name: str) -> tuple[str, str]:
    """Split ``"domain-task"`` into ``(domain, task)``; a clear error for unknown tasks."""
    known = suite_task_names()
    parts = name.split("-")
    if len(parts) != 2 or name not in known:
        raise ValueError(
            f"unknown dm_control suite task {name!r}; expected 'domain-task', one of: "
            + ", ".join(known)
        )
    return parts[0], parts[1]


class DmControlEnv(gym.Env):
    """A dm_control suite task as a gymnasium environment (flat float32 observations).

    Args:
        name: ``"domain-task"``, e.g. ``"cartpole-swingup"``.
        seed: seed of the task's random state before the first ``reset``.
        action_repeat: control steps per ``step`` call (the action is held; rewards summed).
        time_limit: episode length in seconds; ``None`` keeps the task's own limit.
        render_mode: ``None`` or ``"rgb_array"``.
        camera_id: camera index or name used by ``render``.
        width, height: rendered frame size in pixels.
        environment_kwargs: passed to the dm_control ``Environment`` (e.g. ``control_timestep``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        name: str,
        *,
        seed: int | None = None,
        action_repeat: int = 1,
        time_limit: float | None = None,
        render_mode: str | None = None,
        camera_id: int | str = 0,
        width: int = 84,
        height: int = 84,
        environment_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if width < 1 or height < 1:
            raise ValueError(f"render size must be positive, got width={width} height={height}")
        domain, task = parse_task_name(name)
        _ensure_headless_gl()
        from dm_control import suite

        task_kwargs: dict[str, Any] = {"random": np.random.RandomState(seed)}
        if time_limit is not None:
            if time_limit <= 0:
                raise ValueError(f"time_limit must be positive seconds, got {time_limit}")
            task_kwargs["time_limit"] = time_limit
        self._env = suite.load(
            domain, task, task_kwargs=task_kwargs, environment_kwargs=environment_kwargs
        )
        self.name = name
        self._needs_reset = True
        self.action_repeat = int(action_repeat)
        self.render_mode = render_mode
        self.camera_id = camera_id
        self.width = int(width)
        self.height = int(height)

        spec = self._env.observation_spec()
        self.observation_keys: tuple[str, ...] = tuple(spec.keys())
        self.observation_slices: dict[str, slice] = {}
        offset = 0
        for key, array_spec in spec.items():
            size = int(np.prod(array_spec.shape, dtype=np.int64))
            self.observation_slices[key] = slice(offset, offset + size)
            offset += size
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(offset,), dtype=np.float32)

        action_spec = self._env.action_spec()
        low = np.broadcast_to(action_spec.minimum, action_spec.shape).astype(np.float32)
        high = np.broadcast_to(action_spec.maximum, action_spec.shape).astype(np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.metadata = {
            **self.metadata,
            "render_fps": max(1, round(1.0 / (self.control_timestep))),
        }

    @property
    def dm_env(self) -> Any:
        """The wrapped ``dm_control.rl.control.Environment``."""
        return self._env

    @property
    def physics(self) -> Any:
        """The task's ``dm_control`` physics (``physics.model``, ``physics.data``)."""
        return self._env.physics

    @property
    def control_timestep(self) -> float:
        """Simulated seconds per ``step`` call (including the action repeat)."""
        return float(self._env.control_timestep()) * self.action_repeat

    def _flatten(self, observation: dict[str, Any]) -> np.ndarray:
        """The observation dict as a ``float32 (D,)`` vector in ``observation_keys`` order."""
        parts = [np.asarray(observation[k], np.float32).reshape(-1) for k in self.observation_keys]
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed`` re-seeds the task's random state (initial state)."""
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)
            self.action_space.seed(seed)
        timestep = self._env.reset()
        self._needs_reset = False
        return self._flatten(timestep.observation), {"discount": 1.0}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` for ``action_repeat`` control steps."""
        if self._needs_reset:
            raise RuntimeError(
                f"{self.name}: call reset() before step() (and again after an episode ends)"
            )
        action = np.asarray(action, np.float32).reshape(self.action_space.shape)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or Inf: {action}")
        action = np.clip(action, self.action_space.low, self.action_space.high)
        reward = 0.0
        terminated = truncated = False
        timestep = None
        for _ in range(self.action_repeat):
            timestep = self._env.step(action)
            reward += float(timestep.reward or 0.0)
            if timestep.last():
                if timestep.discount == 0.0:
                    terminated = True
                else:
                    truncated = True
                break
        assert timestep is not None
        self._needs_reset = terminated or truncated
        info = {"discount": float(timestep.discount if timestep.discount is not None else 1.0)}
        return self._flatten(timestep.observation), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """A ``uint8 (height, width, 3)`` frame when ``render_mode == "rgb_array"``."""
        if self.render_mode is None:
            return None
        frame = self._env.physics.render(
            height=self.height, width=self.width, camera_id=self.camera_id
        )
        return np.asarray(frame, np.uint8)

    def close(self) -> None:
        """Release the physics and its rendering contexts; safe to call twice."""
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()
            env.physics.free()
            self._env = None  # type: ignore[assignment]


def make_dm_control_env(name: str, **kwargs: Any) -> DmControlEnv:
    """Build a :class:`DmControlEnv` for the suite task ``name`` (``"domain-task"``)."""
    return DmControlEnv(name, **kwargs)
