"""A 2-D multimodal reach bandit: four goals of different value, one step per episode.

Observation: a start point ``p`` in ``[-start_range, start_range]^2``. Action: a displacement
``a`` in ``[-1, 1]^2``; the end point is ``e = p + a``. Reward: ``max_k v_k exp(-|e - g_k|^2 /
(2 sigma^2))`` for goals ``g_k`` at ``(+-offset, +-offset)`` with values ``v`` (the best mode is
goal 0). The terminal observation is the end point (clipped to the box), so a transition
``(p, a, e)`` determines the action (``a = e - p``). Demonstrations pick a goal uniformly, so a
unimodal policy averages them into the middle (reward ~ 0) while a multimodal one lands on the
goals.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

DEFAULT_VALUES = (1.0, 0.75, 0.5, 0.25)


class MultimodalReachEnv(gym.Env):
    """The multimodal reach bandit (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        *,
        start_range: float = 0.25,
        offset: float = 0.5,
        sigma: float = 0.1,
        values: tuple[float, ...] = DEFAULT_VALUES,
        mode_radius: float = 0.15,
        seed: int | None = None,
    ) -> None:
        if len(values) != 4:
            raise ValueError(f"the reach bandit has four modes; got {len(values)} values")
        self.start_range = float(start_range)
        self.sigma = float(sigma)
        self.values = np.asarray(values, np.float32)
        self.mode_radius = float(mode_radius)
        o = float(offset)
        self.goals = np.asarray([[o, o], [-o, o], [-o, -o], [o, -o]], np.float32)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._rng = np.random.default_rng(seed)
        self._p: np.ndarray | None = None

    @property
    def best_mode(self) -> int:
        """Index of the most valuable goal."""
        return int(np.argmax(self.values))

    def sample_starts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` start points ``(n, 2)``."""
        return rng.uniform(-self.start_range, self.start_range, (n, 2)).astype(np.float32)

    def reward(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Rewards ``(...)`` of displacements ``actions (..., 2)`` from starts ``obs (..., 2)``."""
        end = np.asarray(obs) + np.clip(actions, -1.0, 1.0)
        d2 = ((end[..., None, :] - self.goals) ** 2).sum(-1)
        return (self.values * np.exp(-d2 / (2 * self.sigma**2))).max(-1)

    def modes(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Goal index reached by each action (``-1``: none within ``mode_radius``)."""
        end = np.asarray(obs) + np.clip(actions, -1.0, 1.0)
        d = np.sqrt(((end[..., None, :] - self.goals) ** 2).sum(-1))
        k = d.argmin(-1)
        return np.where(d.min(-1) <= self.mode_radius, k, -1)

    def mode_fractions(self, obs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        """Fraction of actions in each mode (``mode_0..3``) and in none (``mode_none``)."""
        m = self.modes(obs, actions).reshape(-1)
        out = {f"mode_{k}": float(np.mean(m == k)) for k in range(4)}
        out["mode_none"] = float(np.mean(m == -1))
        return out

    def expert_actions(
        self, obs: np.ndarray, rng: np.random.Generator, noise: float = 0.03
    ) -> np.ndarray:
        """Demonstrations: each picks a goal uniformly and reaches it (plus Gaussian noise)."""
        obs = np.asarray(obs, np.float32).reshape(-1, 2)
        k = rng.integers(0, 4, size=len(obs))
        a = self.goals[k] - obs + rng.normal(0.0, noise, obs.shape)
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._p = self.sample_starts(1, self._rng)[0]
        return self._p.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._p is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, np.float32).reshape(2)
        r = float(self.reward(self._p, a))
        mode = int(self.modes(self._p, a))
        # The terminal observation is where the action led (the bandit's one step of dynamics),
        # so transitions (s, a, s') determine the action: an inverse-dynamics model can learn it.
        end = np.clip(self._p + np.clip(a, -1.0, 1.0), -1.0, 1.0).astype(np.float32)
        self._p = None
        return end, r, True, False, {"mode": mode}
