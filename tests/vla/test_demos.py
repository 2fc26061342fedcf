"""Scripted experts, task success checks and the demonstration dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensorimotor.sim.brick_experts import EPISODE_STEPS, expert_plan
from sensorimotor.sim.brick_tasks import TASKS, BrickTaskEnv, sample_episode

pytestmark = pytest.mark.mujoco


@pytest.mark.parametrize("task", TASKS)
def test_expert_succeeds_and_idling_fails(task: str) -> None:
    env = BrickTaskEnv()
    episode = sample_episode(task, seed=123)
    env.reset(episode)
    plan, _ = expert_plan(env, episode)
    assert plan.shape == (EPISODE_STEPS, 12)
    for action in plan:
        env.step(action)
    assert env.success(), f"{task}: the expert failed its own success check"
    env.reset(episode)
    for _ in range(10):
        env.step(env.home_action())
    assert not env.success(), f"{task}: holding still counts as success"


def test_pick_any_uses_both_arms() -> None:
    env = BrickTaskEnv()
    arms = set()
    for seed in range(8):
        episode = sample_episode("pick_any", seed)
        env.reset(episode)
        arms.add(expert_plan(env, episode)[1])
    assert arms == {"left", "right"}


def test_layouts_are_seeded_and_instructions_name_the_colour() -> None:
    a, b = sample_episode("push_right", 5), sample_episode("push_right", 5)
    assert a == b and a.color in a.instruction
    assert sample_episode("push_right", 6).poses != a.poses


def test_demo_dataset(tiny_demos) -> None:
    from sensorimotor.data.lerobot.reader import LeRobotReader

    reader = LeRobotReader(tiny_demos)
    assert len(reader.episodes) == 3
    assert set(reader.video_keys) == {
        "observation.images.workspace",
        "observation.images.left_wrist_cam",
    }
    data = reader.episode_data(0)
    assert data["action"].shape == (EPISODE_STEPS, 12)
    assert np.isfinite(data["observation.state"]).all()
    frames = reader.episode_video(0, "observation.images.workspace")
    assert frames.shape == (EPISODE_STEPS, 16, 16, 3)
    rows = [
        json.loads(x) for x in (tiny_demos / "meta" / "vla_episodes.jsonl").read_text().splitlines()
    ]
    assert {r["task"] for r in rows} == set(TASKS)


def test_bad_demo_settings_exit_2(tmp_path, capsys) -> None:
    from sensorimotor.cli import main

    assert main(["vla", "demos", f"out={tmp_path / 'd'}", "tasks=[stack]", "--no-progress"]) == 2
    assert "unknown ['stack']" in capsys.readouterr().err
