"""Replay samplers: single transitions, ``H``-step sequences and observation-window / action-chunk
batches, drawn from a :class:`~sensorimotor.agents.buffer.ReplayBuffer` (``rng`` is a
``numpy.random.Generator``; windows never cross an episode boundary or the write head).

- :func:`sample_transitions`: single transitions ``(B, ...)``;
- :func:`sample_sequences`: ``H``-step windows for TD-MPC2: ``observations (B, H+1, D)``,
  ``actions (B, H, A)``, ``rewards (B, H)``, ``terminals (B, H)``;
- :func:`sample_chunks`: observation windows ``(B, To, D)`` (padded with the episode's first
  observation) and action chunks ``(B, Ha, A)`` (padded with the last action at an episode end),
  with the discounted chunk reward and per-sample bootstrap ``discounts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sensorimotor.core.errors import DataError

if TYPE_CHECKING:
    from sensorimotor.agents.buffer import ReplayBuffer

#: The per-step arrays a buffer stores (``lasts``: the episode ended after this step).
STEP_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "lasts")


def sample_transitions(
    buf: ReplayBuffer, rng: np.random.Generator, batch_size: int
) -> dict[str, np.ndarray]:
    """``batch_size`` uniformly drawn transitions (keys of :data:`STEP_FIELDS` minus ``lasts``)."""
    buf.require(1, "sampling")
    pos = rng.integers(0, len(buf), size=batch_size)
    return {k: buf.data[k][pos] for k in STEP_FIELDS if k != "lasts"}


def _valid_sequence_starts(buf: ReplayBuffer, idx: np.ndarray, horizon: int) -> np.ndarray:
    ok = idx + horizon - 1 < buf.total_added
    for k in range(horizon - 1):
        ok &= ~buf.data["lasts"][buf.position(np.minimum(idx + k, buf.total_added - 1))]
    return ok


def sample_sequences(
    buf: ReplayBuffer, rng: np.random.Generator, batch_size: int, horizon: int
) -> dict[str, np.ndarray]:
    """``batch_size`` windows of ``horizon`` steps inside one episode each."""
    if horizon < 1:
        raise ValueError(f"sequence horizon must be >= 1, got {horizon}")
    buf.require(horizon, f"a {horizon}-step window")
    chosen: list[np.ndarray] = []
    have, tries = 0, 0
    oldest = buf.oldest
    while have < batch_size:
        cand = rng.integers(oldest, buf.total_added, size=2 * batch_size)
        good = cand[_valid_sequence_starts(buf, cand, horizon)]
        chosen.append(good)
        have += len(good)
        tries += 1
        if tries > 100 and have == 0:
            raise DataError(f"no {horizon}-step window fits inside an episode in the replay buffer")
    start = np.concatenate(chosen)[:batch_size]
    steps = start[:, None] + np.arange(horizon)[None]  # (B, H)
    pos = buf.position(steps)
    d = buf.data
    obs = np.concatenate(
        [d["observations"][pos], d["next_observations"][pos[:, -1]][:, None]], axis=1
    )
    return {
        "observations": obs,
        "actions": d["actions"][pos],
        "rewards": d["rewards"][pos],
        "terminals": d["terminals"][pos],
    }


def sample_chunks(
    buf: ReplayBuffer,
    rng: np.random.Generator,
    batch_size: int,
    obs_horizon: int,
    action_horizon: int,
    gamma: float = 0.99,
) -> dict[str, np.ndarray]:
    """Observation windows and action chunks (see the module docstring).

    Returns ``observations (B, To, D)``, ``actions (B, Ha, A)``, ``rewards (B,)`` (discounted
    sum over the chunk's steps), ``next_observations (B, To, D)`` (the window after the
    chunk), ``terminals (B,)``, ``discounts (B,)`` (``gamma ** n`` for the ``n`` real steps,
    0 after a termination) and ``action_mask (B, Ha)`` (False on padding).
    """
    buf.require(1, "sampling")
    d = buf.data
    oldest = buf.oldest
    start = rng.integers(oldest, buf.total_added, size=batch_size)  # (B,) insertion indices
    ep0 = np.maximum(buf.episode_starts[buf.position(start)], oldest)

    # Action chunk: steps start .. start+Ha-1 while the episode goes on.
    alive = np.ones(batch_size, bool)
    last_valid = start.copy()
    actions = np.empty((batch_size, action_horizon, buf.action_dim), np.float32)
    mask = np.zeros((batch_size, action_horizon), bool)
    rewards = np.zeros(batch_size, np.float32)
    terminals = np.zeros(batch_size, np.float32)
    n_steps = np.zeros(batch_size, np.int64)
    for k in range(action_horizon):
        step = start + k
        alive &= step < buf.total_added
        last_valid = np.where(alive, step, last_valid)
        p = buf.position(last_valid)
        actions[:, k] = d["actions"][p]
        mask[:, k] = alive
        rewards += np.where(alive, (gamma**k) * d["rewards"][p], 0.0)
        terminals = np.where(alive, np.maximum(terminals, d["terminals"][p]), terminals)
        n_steps += alive
        alive &= ~d["lasts"][p]

    def window(end: np.ndarray) -> np.ndarray:
        """Observations of steps end-To+1 .. end, clamped to the episode start."""
        steps = end[:, None] - np.arange(obs_horizon - 1, -1, -1)[None]
        steps = np.maximum(steps, ep0[:, None])
        return d["observations"][buf.position(steps)]

    obs = window(start)
    nxt = window(last_valid)
    nxt = np.concatenate([nxt[:, 1:], d["next_observations"][buf.position(last_valid)][:, None]], 1)
    if obs_horizon == 1:
        nxt = d["next_observations"][buf.position(last_valid)][:, None]
    return {
        "observations": obs,
        "actions": actions,
        "rewards": rewards,
        "next_observations": nxt,
        "terminals": terminals,
        "discounts": (gamma**n_steps) * (1.0 - terminals),
        "action_mask": mask,
    }
