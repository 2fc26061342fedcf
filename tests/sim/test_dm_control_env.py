"""Tests of the dm_control suite → gymnasium adapter."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.mujoco

dm_control_env = pytest.importorskip("sensorimotor.sim.dm_control_env")
make_dm_control_env = dm_control_env.make_dm_control_env


def _rollout(env, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    observations, rewards = [obs], []
    for _ in range(n):
        obs, reward, _, _, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        observations.append(obs)
        rewards.append(reward)
    return np.stack(observations), np.asarray(rewards)


def test_unknown_task_lists_suite_tasks() -> None:
    with pytest.raises(ValueError, match="cartpole-swingup") as info:
        make_dm_control_env("cartpole-flyaway")
    assert "unknown dm_control suite task 'cartpole-flyaway'" in str(info.value)
    with pytest.raises(ValueError, match="domain-task"):
        make_dm_control_env("cartpole")


def test_task_names_parse() -> None:
    names = dm_control_env.suite_task_names()
    assert "cheetah-run" in names and "ball_in_cup-catch" in names
    assert dm_control_env.parse_task_name("ball_in_cup-catch") == ("ball_in_cup", "catch")


def test_cartpole_spaces_and_flat_observation() -> None:
    env = make_dm_control_env("cartpole-swingup", seed=0)
    try:
        obs, info = env.reset(seed=1)
        assert obs.dtype == np.float32 and obs.shape == (5,)
        assert env.observation_space.shape == (5,) and env.observation_space.contains(obs)
        assert env.observation_keys == ("position", "velocity")
        assert env.observation_slices == {"position": slice(0, 3), "velocity": slice(3, 5)}
        assert env.action_space.dtype == np.float32
        np.testing.assert_array_equal(env.action_space.low, [-1.0])
        np.testing.assert_array_equal(env.action_space.high, [1.0])
        # The flat vector is the dm_control observation dict in spec order.
        dm_obs = env.dm_env.task.get_observation(env.physics)
        expected = np.concatenate([np.ravel(dm_obs[k]) for k in env.observation_keys])
        np.testing.assert_allclose(obs, expected.astype(np.float32), rtol=1e-6)
        obs2, reward, terminated, truncated, info = env.step(np.array([0.5], np.float32))
        assert obs2.shape == (5,) and isinstance(reward, float) and 0.0 <= reward <= 1.0
        assert not terminated and not truncated and info["discount"] == 1.0
        assert not np.array_equal(obs, obs2)
    finally:
        env.close()
        env.close()


@pytest.mark.parametrize("name", ["pendulum-swingup", "reacher-easy", "cheetah-run"])
def test_other_tasks_step(name: str) -> None:
    env = make_dm_control_env(name)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
        assert sum(s.stop - s.start for s in env.observation_slices.values()) == obs.shape[0]
        obs, reward, *_ = env.step(env.action_space.sample())
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
    finally:
        env.close()


def test_seeded_reset_is_reproducible() -> None:
    env = make_dm_control_env("cartpole-swingup")
    try:
        a_obs, a_rew = _rollout(env, seed=7, n=20)
        b_obs, b_rew = _rollout(env, seed=7, n=20)
        c_obs, _ = _rollout(env, seed=8, n=20)
    finally:
        env.close()
    np.testing.assert_array_equal(a_obs, b_obs)
    np.testing.assert_array_equal(a_rew, b_rew)
    assert not np.array_equal(a_obs[0], c_obs[0])


def test_time_limit_truncates_and_requires_reset() -> None:
    env = make_dm_control_env("cartpole-swingup", time_limit=0.05)  # 5 control steps of 0.01 s
    try:
        env.reset(seed=0)
        flags = [env.step(np.zeros(1, np.float32))[2:4] for _ in range(5)]
        assert flags[:4] == [(False, False)] * 4
        assert flags[4] == (False, True)
        with pytest.raises(RuntimeError, match="reset"):
            env.step(np.zeros(1, np.float32))
        env.reset()
        env.step(np.zeros(1, np.float32))
    finally:
        env.close()


def test_action_repeat_sums_rewards_and_holds_action() -> None:
    single = make_dm_control_env("cartpole-swingup", time_limit=0.1)
    double = make_dm_control_env("cartpole-swingup", time_limit=0.1, action_repeat=2)
    try:
        single.reset(seed=3)
        double.reset(seed=3)
        assert double.control_timestep == pytest.approx(2 * single.control_timestep)
        actions = np.linspace(-1, 1, 5, dtype=np.float32)[:, None]
        for i, action in enumerate(actions):
            s1 = single.step(action)
            s2 = single.step(action)
            d = double.step(action)
            np.testing.assert_array_equal(s2[0], d[0])
            assert d[1] == pytest.approx(s1[1] + s2[1])
            assert d[3] == s2[3] == (i == len(actions) - 1)
    finally:
        single.close()
        double.close()


def test_bad_actions_and_arguments() -> None:
    env = make_dm_control_env("cartpole-swingup")
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="NaN"):
            env.step(np.array([np.nan], np.float32))
        # Out-of-range actions are clipped into the Box.
        a = env.step(np.array([5.0], np.float32))[0]
        env.reset(seed=0)
        b = env.step(np.array([1.0], np.float32))[0]
        np.testing.assert_array_equal(a, b)
    finally:
        env.close()
    with pytest.raises(ValueError, match="action_repeat"):
        make_dm_control_env("cartpole-swingup", action_repeat=0)
    with pytest.raises(ValueError, match="render_mode"):
        make_dm_control_env("cartpole-swingup", render_mode="human")


@pytest.mark.usefixtures("gl")
def test_render_rgb_array() -> None:
    env = make_dm_control_env(
        "cartpole-swingup", render_mode="rgb_array", camera_id=0, width=64, height=48
    )
    try:
        env.reset(seed=0)
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.shape == (48, 64, 3)
        assert frame.max() > 0 and frame.std() > 1.0
        env.reset(seed=0)
        np.testing.assert_array_equal(env.render(), frame)
    finally:
        env.close()
    env = make_dm_control_env("pendulum-swingup")
    try:
        env.reset(seed=0)
        assert env.render() is None
    finally:
        env.close()


@pytest.mark.filterwarnings("ignore:.*infinity:UserWarning")
def test_passes_gymnasium_env_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    env = make_dm_control_env("pendulum-swingup")
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()
