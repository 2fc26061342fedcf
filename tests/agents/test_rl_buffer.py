"""Replay buffer and offline datasets: windows, chunks, files, statistics cache, sessions."""

import json

import numpy as np
import pytest

from sensorimotor.agents.buffer import ReplayBuffer
from sensorimotor.core.errors import DataError


def _fill(capacity=10, episodes=4, length=4):
    """Steps numbered t = 0, 1, ...; observation = (t, episode), action = step in episode."""
    b = ReplayBuffer(capacity, 2, 1)
    t = 0
    for ep in range(episodes):
        for k in range(length):
            b.add([t, ep], [k], 1.0, [t + 1, ep], terminated=False, truncated=k == length - 1)
            t += 1
    return b


def test_circular_storage_keeps_the_newest():
    b = _fill(capacity=10, episodes=4)
    assert len(b) == 10 and b.total_added == 16
    a = b.arrays()
    np.testing.assert_array_equal(a["observations"][:, 0], np.arange(6, 16))
    np.testing.assert_array_equal(b.episode_returns(), [2.0, 4.0, 4.0])  # oldest one partly gone


def test_sequences_stay_inside_one_episode():
    b = _fill(capacity=10, episodes=4)
    s = b.sample_sequences(np.random.default_rng(0), 200, 3)
    assert s["observations"].shape == (200, 4, 2)
    assert s["actions"].shape == (200, 3, 1) and s["rewards"].shape == (200, 3)
    ep = s["observations"][..., 1]
    assert np.all(ep == ep[:, :1]), "a window crossed an episode boundary"
    t = s["observations"][..., 0]
    assert np.all(np.diff(t, axis=1) == 1), "windows must be consecutive steps"
    assert t.min() >= 6, "overwritten steps must not be sampled"


def test_sequences_need_long_enough_episodes():
    b = _fill(capacity=20, episodes=3, length=2)
    with pytest.raises(DataError, match="no 3-step window fits"):
        b.sample_sequences(np.random.default_rng(0), 4, 3)


def test_chunks_pad_at_episode_edges():
    b = _fill(capacity=16, episodes=4)
    c = b.sample_chunks(np.random.default_rng(0), 300, obs_horizon=2, action_horizon=3, gamma=0.5)
    obs_t, ep = c["observations"][..., 0], c["observations"][..., 1]
    assert np.all(ep == ep[:, :1])
    first_in_ep = obs_t[:, 1] % 4 == 0
    assert np.all(obs_t[first_in_ep, 0] == obs_t[first_in_ep, 1]), "pads with the first observation"
    k = c["actions"][..., 0]  # step-in-episode of each chunk action
    n = c["action_mask"].sum(1)
    assert np.all(n == np.minimum(3, 4 - k[:, 0]))
    np.testing.assert_allclose(c["rewards"], (1 - 0.5**n) / 0.5)
    np.testing.assert_allclose(c["discounts"], 0.5**n)
    assert np.all(k[:, -1] == np.minimum(k[:, 0] + 2, 3)), "pads with the last action"
    # The next window ends with the observation after the chunk's last real step.
    np.testing.assert_array_equal(c["next_observations"][:, -1, 0], obs_t[:, 1] + n)


def test_terminal_chunks_do_not_bootstrap():
    b = ReplayBuffer(8, 1, 1)
    for k in range(3):
        b.add([k], [0], 1.0, [k + 1], terminated=k == 2)
    c = b.sample_chunks(np.random.default_rng(0), 50, 1, 4, gamma=0.9)
    assert np.all(c["terminals"] == 1.0) and np.all(c["discounts"] == 0.0)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_file_round_trip_and_stats_cache(tmp_path, suffix):
    b = _fill(capacity=16, episodes=4)
    path = b.save(tmp_path / f"data{suffix}", metadata={"task": "toy"})
    back = ReplayBuffer.load(path)
    for k, v in b.arrays().items():
        np.testing.assert_array_equal(back.arrays()[k], v)
    assert back.metadata["task"] == "toy"
    side = tmp_path / f"data{suffix}.stats.json"
    assert side.is_file()
    cached = json.loads(side.read_text())
    np.testing.assert_allclose(cached["stats"]["observations"]["shift"], [7.5, 1.5])
    # A second load reuses the cache (here: tampered to prove it is read).
    cached["stats"]["observations"]["shift"] = [123.0, 4.0]
    side.write_text(json.dumps(cached))
    again = ReplayBuffer.load(path)
    np.testing.assert_allclose(again.stats()["observations"].shift, [123.0, 4.0])


def test_d4rl_style_file_without_next_observations(tmp_path):
    obs = np.arange(10, dtype=np.float32)[:, None]
    np.savez(
        tmp_path / "d.npz",
        observations=obs,
        actions=np.zeros((10, 1), np.float32),
        rewards=np.ones(10, np.float32),
        terminals=np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], np.float32),
        timeouts=np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0], bool),
    )
    b = ReplayBuffer.load(tmp_path / "d.npz")
    a = b.arrays()
    # Step 5 (time-out) and step 9 (dataset end) have no next observation and are dropped.
    np.testing.assert_array_equal(a["observations"][:, 0], [0, 1, 2, 3, 4, 6, 7, 8])
    np.testing.assert_array_equal(a["next_observations"][:, 0], [1, 2, 2, 4, 5, 7, 8, 9])
    np.testing.assert_array_equal(a["lasts"], [0, 0, 1, 0, 1, 0, 0, 1])


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="dataset file not found"):
        ReplayBuffer.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "a.npz", observations=np.zeros((4, 2)))
    with pytest.raises(DataError, match="missing 'actions'"):
        ReplayBuffer.load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", observations=np.zeros((4, 2)), actions=np.zeros((3, 1)))
    with pytest.raises(DataError, match=r"actions must be \(N=4, A\)"):
        ReplayBuffer.load(tmp_path / "b.npz")
    bad = np.zeros((4, 2))
    bad[1, 1] = np.nan
    np.savez(tmp_path / "c.npz", observations=bad, actions=np.zeros((4, 1)))
    with pytest.raises(DataError, match="observations contains NaN"):
        ReplayBuffer.load(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read dataset"):
        ReplayBuffer.load(tmp_path / "d.npz")
    with pytest.raises(DataError, match="must end in one of"):
        _fill().save(tmp_path / "x.csv")


def test_dataset_from_recorded_gym_session(tmp_path):
    """A recorded GymRobot session (Pendulum) becomes transitions with rewards and episodes."""
    import gymnasium as gym

    from sensorimotor.robots.gym import GymRobot
    from sensorimotor.robots.runner import RobotRunner

    env = gym.make("Pendulum-v1", max_episode_steps=5)
    robot = GymRobot(env, robot_type="pendulum", seed=0)
    rng = np.random.default_rng(0)

    def selector(obs):
        return {"action": rng.uniform(-2, 2, 1).astype(np.float32)}

    RobotRunner(robot, selector, steps=14, record_to=tmp_path, progress=False).run()
    sessions = sorted(p for p in (tmp_path / "pendulum").iterdir() if p.is_dir())
    b = ReplayBuffer.from_sessions(sessions)
    a = b.arrays()
    assert a["observations"].shape[1] == 3 and a["actions"].shape[1] == 1
    # 14 actions (15 observations): two full 5-step episodes (each followed by a reset step) and
    # two more steps, the last one's outcome being the final observation.
    assert len(b) == 12
    np.testing.assert_array_equal(np.flatnonzero(a["lasts"]), [4, 9, 11])
    assert np.all(a["rewards"] <= 0)
    np.testing.assert_allclose(a["next_observations"][:4], a["observations"][1:5])


def test_device_transitions_and_fused_updates():
    import jax

    from sensorimotor.agents import create_agent
    from sensorimotor.agents.device_loop import DeviceTransitions, fused_updates
    from sensorimotor.policies import Spec

    data = DeviceTransitions.from_buffer(_fill(capacity=16, episodes=4))
    batch = data.sample(jax.random.PRNGKey(0), 8)
    assert batch["observations"].shape == (8, 2) and batch["actions"].shape == (8, 1)
    spec = Spec(obs_dim=2, action_dim=1, action_low=(0.0,), action_high=(3.0,))
    agent = create_agent("bc", spec, config={"policy_type": "gaussian", "policy": {"hidden": [16]}})
    new, infos = fused_updates(agent, data, jax.random.PRNGKey(1), steps=5, batch_size=8)
    assert int(new.step) == 5
    assert (
        infos["policy/loss"].shape == (5,) and np.isfinite(np.asarray(infos["policy/loss"])).all()
    )
