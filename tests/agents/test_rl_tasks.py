"""RL tasks, scripted experts and demonstration datasets."""

import numpy as np
import pytest

from sensorimotor.agents.tasks import episode_length, make_env, make_expert, task_info
from sensorimotor.agents.tasks.bandit import MultimodalReachEnv
from sensorimotor.agents.tasks.demos import collect_demos
from sensorimotor.core.errors import ConfigError


def test_bandit_rewards_modes_and_expert():
    env = MultimodalReachEnv()
    rng = np.random.default_rng(0)
    starts = env.sample_starts(4, rng)
    to_goal = env.goals - starts
    np.testing.assert_allclose(env.reward(starts, to_goal), env.values, rtol=1e-5)
    np.testing.assert_array_equal(env.modes(starts, to_goal), [0, 1, 2, 3])
    assert env.modes(starts[:1], -starts[:1])[0] == -1, "the centre is no mode"
    assert env.reward(starts[:1], -starts[:1])[0] < 1e-3
    obs = env.sample_starts(4000, rng)
    fr = env.mode_fractions(obs, env.expert_actions(obs, rng))
    for k in range(4):
        assert 0.22 < fr[f"mode_{k}"] < 0.28, fr
    assert fr["mode_none"] < 0.01


def test_bandit_episode_is_one_step():
    env = make_env("multimodal_reach", seed=0)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (2,) and np.all(np.abs(obs) <= 0.25)
    _, r, term, trunc, info = env.step(env.unwrapped.goals[0] - obs)
    assert term and not trunc and r == pytest.approx(1.0, rel=1e-4) and info["mode"] == 0
    assert episode_length(env) == 1


def test_pendulum_scripted_expert_swings_up():
    buf = collect_demos("pendulum", make_expert("pendulum"), episodes=3, seed=0, progress=False)
    assert len(buf) == 600
    assert buf.metadata["mean_return"] > -300, buf.metadata
    assert np.all(buf.arrays()["lasts"].nonzero()[0] == [199, 399, 599])


def test_unknown_task_and_missing_expert():
    with pytest.raises(ConfigError, match="unknown RL task 'pong'"):
        task_info("pong")
    assert task_info("gym:MountainCarContinuous-v0").target == "MountainCarContinuous-v0"
    with pytest.raises(ConfigError, match="no scripted expert"):
        make_expert("cartpole-swingup")


@pytest.mark.mujoco
@pytest.mark.parametrize("task", ["cartpole-swingup", "pendulum-swingup"])
def test_dm_control_tasks_use_action_repeat_two(task):
    env = make_env(task, seed=0)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.float32 and obs.ndim == 1
        assert env.action_space.shape == (1,)
        assert env.unwrapped.action_repeat == 2
        assert episode_length(env) == 500
        _, r, term, trunc, _ = env.step(env.action_space.sample())
        assert 0.0 <= r <= 2.0 and not term and not trunc
    finally:
        env.close()
