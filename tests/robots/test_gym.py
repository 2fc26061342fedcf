import gymnasium as gym
import numpy as np

from sensorimotor.robots.gym import GymRobot, RobotEnv
from sensorimotor.robots.interface import Box
from sensorimotor.robots.runner import RobotRunner
from sensorimotor.robots.selectors import RandomDurationSelector
from sensorimotor.robots.session import SessionReader
from sensorimotor.robots.toroidal_dot import ToroidalDotRobot


def test_robot_as_gymnasium_env():
    def reward(obs, action, next_obs):
        return float(next_obs["dot_x"] != obs["dot_x"])

    env = RobotEnv(ToroidalDotRobot(seed=0), reward_fn=reward, max_steps=3)
    assert env.action_space == gym.spaces.Discrete(2)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, r, terminated, truncated, _ = env.step(1)
    assert r == 1.0 and not terminated and not truncated
    assert env.step(0)[1] == 0.0
    assert env.step(0)[3] is True  # truncated at max_steps
    assert env.render().shape == (224, 224, 3)


class _Pendulum(gym.Wrapper):
    """Pendulum-v1 with a tiny rgb_array renderer (the real one needs pygame)."""

    def __init__(self):
        super().__init__(gym.make("Pendulum-v1", max_episode_steps=5))

    @property
    def render_mode(self):
        return "rgb_array"

    def render(self):
        angle = np.arctan2(self.env.unwrapped.state[0], 1.0)
        return np.full((8, 8, 3), int(127 + 100 * np.sin(angle)), np.uint8)


def test_gymnasium_env_as_robot_records_and_autoresets(tmp_path):
    robot = GymRobot(_Pendulum(), robot_type="pendulum", seed=0)
    assert isinstance(robot.action_space, Box) and robot.action_space.shape == (1,)
    stats = RobotRunner(
        robot,
        RandomDurationSelector(robot.action_space, seed=0),
        steps=12,
        record_to=tmp_path,
        progress=False,
    ).run()
    reader = SessionReader(stats.session)
    assert reader.robot_type == "pendulum" and len(reader) == 13
    obs = reader.observation(5)
    assert obs["truncated"] is True and obs["obs"].shape == (3,)
    assert reader.observation(6)["episode"] == 1  # next action reset the env
    assert reader.frame(0).shape == (8, 8, 3)
    assert np.isfinite([reader.observation(i)["reward"] for i in range(12)]).all()
