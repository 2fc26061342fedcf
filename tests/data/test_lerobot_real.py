"""Against the real ``lerobot`` package: a dataset recorded through LeRobot's own API from the
simulated SO-101 (with the simple_joint plugin policy) converts into sessions frame for frame, our
export loads in ``LeRobotDataset``, and the plugin registers and acts inside LeRobot.

Skipped when lerobot (the ``lerobot`` extra) or the plugin (plugins/lerobot_policy_simple_joint)
is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.mujoco, pytest.mark.lerobot]

ROOT = Path(__file__).resolve().parents[2]
SIZE = 64
FPS = 10


def _record_sim():  # noqa: ANN202 - the plugin's recording script, loaded from its file
    path = ROOT / "plugins/lerobot_policy_simple_joint/scripts/record_sim.py"
    spec = importlib.util.spec_from_file_location("record_sim", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["record_sim"] = module
    spec.loader.exec_module(module)
    return module.record


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, np.ndarray]]]:
    """A LeRobot dataset of 2 episodes written by LeRobotDataset, and the frames that were rendered."""
    root = tmp_path_factory.mktemp("lerobot") / "so101_sim"
    frames = _record_sim()(
        root, episodes=2, seconds=4.0, fps=FPS, mode="random", action_duration=0.5,
        seed=3, size=SIZE, keep_frames=True,
    )  # fmt: skip
    return root, frames


def test_lerobot_dataset_converts_frame_for_frame(recorded, tmp_path: Path) -> None:  # noqa: ANN001
    import pyarrow.parquet as pq
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from sensorimotor.robots.lerobot.import_lerobot import convert_dataset
    from sensorimotor.robots.session import SessionReader

    root, rendered = recorded
    theirs = LeRobotDataset("local/so101_sim", root=root, video_backend="pyav")
    sessions = convert_dataset(root, tmp_path / "sessions")
    assert len(sessions) == 2
    table = pq.read_table(root / "data/chunk-000/file-000.parquet").to_pydict()
    per_action = round(0.5 * FPS)
    for episode, path in enumerate(sessions):
        session = SessionReader(path)
        config = session.metadata["robot_config"]
        assert config["mapping"] == "log" and config["frames_per_action"] == per_action
        log = root / f"meta/discrete_action_logs/episode_{episode:06d}.jsonl"
        logged = [json.loads(line)["action"] for line in log.read_text().splitlines()[1:]]
        starts = config["action_start_frames"]
        assert starts == [k * per_action for k in range(len(logged))]
        # actions exactly: the logged discrete actions, and the parquet's joint targets
        np.testing.assert_array_equal(session.action_indices()[:-1], logged)
        rows = [i for i, e in enumerate(table["episode_index"]) if e == episode]
        targets = np.array([table["action"][rows[s]] for s in starts], np.float32)
        deltas = np.diff(np.concatenate([[table["observation.state"][rows[0]][0]], targets[:, 0]]))
        expected = np.array([0.0, 10.0, -10.0])[session.action_indices()[:-1]]
        np.testing.assert_allclose(
            deltas, expected, atol=0.5
        )  # frame 0: against the measured start
        # every frame matches its source: the dataset's frame as LeRobot itself decodes it
        steps = [*starts, min(starts[-1] + per_action, len(rows) - 1)]
        for step, frame_index in enumerate(steps):
            image = session.frame(step)
            assert image.shape == (2 * SIZE, SIZE, 3)
            item = theirs[rows[frame_index]]
            for half, camera in ((image[:SIZE], "base_0_rgb"), (image[SIZE:], "left_wrist_0_rgb")):
                frame = item[f"observation.images.{camera}"].permute(1, 2, 0).numpy() * 255
                assert psnr(half, frame.round().astype(np.uint8)) >= 40
            # ... and is the rendered frame of that instant, not a neighbour (AV1 at LeRobot's
            # crf 30 costs ~30 dB against the raw render at this size, the same for every frame)
            base = rendered[episode]["base_0_rgb"]
            scores = {
                k: psnr(image[:SIZE], base[k])
                for k in range(max(0, frame_index - 2), min(len(base), frame_index + 3))
                if k == frame_index or psnr(base[k], base[frame_index]) < 25  # clearly different
            }
            assert max(scores, key=scores.get) == frame_index, scores


def test_our_frames_match_lerobots_own_decoding(recorded, tmp_path: Path) -> None:  # noqa: ANN001
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from sensorimotor.data.lerobot.reader import LeRobotReader

    root, _ = recorded
    theirs = LeRobotDataset("local/so101_sim", root=root, video_backend="pyav")
    ours = LeRobotReader(root)
    video = ours.episode_video(1, "observation.images.base_0_rgb")
    start = ours.episodes[1]["dataset_from_index"]
    for k in (0, 7, len(video) - 1):
        item = theirs[start + k]
        frame = (item["observation.images.base_0_rgb"].permute(1, 2, 0).numpy() * 255).round()
        assert psnr(video[k], frame.astype(np.uint8)) >= 45
        np.testing.assert_array_equal(ours.episode_data(1)["action"][k], item["action"].numpy())


def test_our_export_loads_in_lerobot_dataset(recorded, tmp_path: Path) -> None:  # noqa: ANN001
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from sensorimotor.robots.lerobot.export_lerobot import export_sessions
    from sensorimotor.robots.lerobot.import_lerobot import convert_dataset
    from sensorimotor.robots.session import SessionReader

    root, _ = recorded
    sessions = convert_dataset(root, tmp_path / "sessions")
    out = export_sessions(sessions, tmp_path / "export", fps=2)
    dataset = LeRobotDataset("local/export", root=out, video_backend="pyav")
    lengths = [len(SessionReader(s)) for s in sessions]
    assert dataset.fps == 2 and len(dataset) == sum(lengths) and dataset.num_episodes == 2
    assert set(dataset.meta.camera_keys) == {
        "observation.images.base_0_rgb", "observation.images.left_wrist_0_rgb",
    }  # fmt: skip
    assert dataset.meta.features["action"]["names"][0] == "shoulder_pan.pos"
    for i in range(len(dataset)):
        item = dataset[i]
        assert tuple(item["observation.images.base_0_rgb"].shape) == (3, SIZE, SIZE)
        assert tuple(item["observation.images.left_wrist_0_rgb"].shape) == (3, SIZE, SIZE)
        assert tuple(item["observation.state"].shape) == (6,)
        assert tuple(item["action"].shape) == (6,)
    first = SessionReader(sessions[0])
    item = dataset[3]
    np.testing.assert_allclose(item["observation.state"].numpy(), first.observation(3)["joint_pos"])
    assert abs(float(item["timestamp"]) - 3 / 2) < 1e-6


def test_plugin_registers_and_selects_actions_inside_lerobot(tmp_path: Path) -> None:
    import torch
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.policies.factory import get_policy_class, make_policy, make_pre_post_processors
    from lerobot.utils.control_utils import predict_action
    from lerobot.utils.import_utils import register_third_party_plugins

    register_third_party_plugins()
    assert "simple_joint" in PreTrainedConfig.get_known_choices()
    assert get_policy_class("simple_joint").__name__ == "SimpleJointPolicy"
    features = {
        "action": {"dtype": "float32", "shape": (6,), "names": [f"j{i}.pos" for i in range(6)]},
        "observation.state": {"dtype": "float32", "shape": (6,), "names": [f"j{i}.pos" for i in range(6)]},
    }  # fmt: skip
    features["action"]["names"][2] = features["observation.state"]["names"][2] = "elbow_flex.pos"
    meta = LeRobotDatasetMetadata.create(
        "local/p", 10, features, root=tmp_path / "ds", use_videos=False
    )
    config = PreTrainedConfig.get_choice_class("simple_joint")(
        joint_name="elbow_flex", mode="sequence", sequence=[1, 1, 2], action_duration=0.2, fps=10,
        position_delta=5.0, log_dir=str(tmp_path / "logs"), device="cpu",
    )  # fmt: skip
    policy = make_policy(config, ds_meta=meta)
    pre, post = make_pre_post_processors(config, dataset_stats=None)
    state = np.arange(6, dtype=np.float32)
    outputs = [
        predict_action({"observation.state": state}, policy, torch.device("cpu"), pre, post, False, "t", "so101")
        .squeeze(0).numpy()
        for _ in range(10)
    ]  # fmt: skip
    joint = np.array([o[2] for o in outputs])
    # 2 frames per action: +5, +5, -5, then STAY forever (the sequence runs once)
    np.testing.assert_allclose(joint, [7, 7, 12, 12, 7, 7, 7, 7, 7, 7])
    np.testing.assert_allclose(
        np.delete(np.stack(outputs), 2, axis=1), np.tile(np.delete(state, 2), (10, 1))
    )
    lines = (tmp_path / "logs/episode_000000.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["joint_name"] == "elbow_flex" and header["joint_index"] == 2
    assert header["position_delta"] == 5.0 and header["sequence"] == [1, 1, 2]
    assert [json.loads(line)["action"] for line in lines[1:]] == [1, 1, 2, 0, 0]


def test_other_robots_export_loads_in_lerobot_dataset(tmp_path: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from sensorimotor.robots.lerobot.export_lerobot import export_sessions
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot

    robot = ToroidalDotRobot(ToroidalDotConfig(width=64, height=64, seed=0))
    selector = RandomDurationSelector(robot.action_space, 1, 3, seed=0)
    stats = RobotRunner(robot, selector, steps=12, record_to=tmp_path / "s", progress=False).run()
    out = export_sessions([stats.session], tmp_path / "ds", fps=10)
    dataset = LeRobotDataset("local/dot", root=out, video_backend="pyav")
    # 12 actions, 13 observations: the one after the last action is exported too (action 0).
    assert len(dataset) == 13 and dataset.fps == 10
    assert tuple(dataset[4]["observation.images.image"].shape) == (3, 64, 64)
    assert dataset[4]["action"].shape == ()


def test_the_printed_command_parses_as_a_lerobot_record_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lerobot.configs import parser
    from lerobot.scripts.lerobot_record import RecordConfig
    from lerobot.utils.import_utils import register_third_party_plugins

    from sensorimotor.robots.so101.record import RecordPlan, lerobot_record_command

    register_third_party_plugins()
    plan = RecordPlan(port="/dev/ttyACM0", repo_id="me/moves", root="/tmp/moves", sequence=[1, 0, 2, 0],
                      joint_name="elbow_flex", action_duration=0.3)  # fmt: skip
    monkeypatch.setattr(sys, "argv", lerobot_record_command(plan))

    def parse(config):  # noqa: ANN001, ANN202
        return config

    parse.__annotations__ = {"config": RecordConfig}  # a class, not this module's string annotation
    config = parser.wrap()(parse)()
    assert type(config.policy).__name__ == "SimpleJointConfig"
    assert (config.policy.joint_name, config.policy.sequence, config.policy.action_duration) == (
        "elbow_flex",
        [1, 0, 2, 0],
        0.3,
    )
    assert config.policy.log_dir == "/tmp/moves/meta/discrete_action_logs"
    assert config.dataset.episode_time_s == pytest.approx(4 * 0.3 + 5)
    assert config.robot.port == "/dev/ttyACM0"
    assert set(config.robot.cameras) == {"base_0_rgb", "left_wrist_0_rgb"}
