"""Our LeRobot v3.0 reader/writer and the session conversion both ways, without the lerobot package.

Datasets here are written by our exporter from sessions recorded on the simulated SO-101 (real
MuJoCo rendering, real parquet and AV1 MP4 files); the tests against LeRobot's own code are in
test_lerobot_real.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("av")

from sensorimotor.core.errors import DataError, UserError  # noqa: E402
from sensorimotor.data.lerobot.reader import LeRobotReader  # noqa: E402
from sensorimotor.data.lerobot.writer import LeRobotWriter  # noqa: E402
from sensorimotor.robots.lerobot.export_lerobot import export_sessions  # noqa: E402
from sensorimotor.robots.lerobot.import_lerobot import ImportOptions, convert_dataset  # noqa: E402
from sensorimotor.robots.session import SessionReader  # noqa: E402

pytestmark = pytest.mark.mujoco
SIZE = 64


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def record_sessions(root: Path, count: int = 2, steps: int = 10) -> list[Path]:
    """Sessions of the simulated SO-101 under seeded random actions."""
    from sensorimotor.robots.recording import RecordingRobot
    from sensorimotor.robots.so101.sim import SO101Sim

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        robot = SO101Sim(width=SIZE, height=SIZE, action_duration=0.25)
        recorder = RecordingRobot(robot, root, session_name=f"s{i}", async_writes=False)
        with recorder:
            space = recorder.action_space
            codes = [1, *rng.integers(0, 3, steps - 1)]  # a MOVE first: anchors the mapping
            for code in codes:
                recorder.get_observation()
                recorder.execute_action(space[int(code)])
            recorder.get_observation()
        paths.append(recorder.session_path)
    return paths


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return record_sessions(tmp_path_factory.mktemp("sessions"))


@pytest.fixture(scope="module")
def dataset(sessions: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_sessions(sessions, tmp_path_factory.mktemp("lerobot") / "so101_export")


def copy_dataset(dataset: Path, tmp_path: Path) -> Path:
    out = tmp_path / dataset.name
    shutil.copytree(dataset, out)
    return out


def test_export_writes_the_v3_layout(dataset: Path, sessions: list[Path]) -> None:
    info = json.loads((dataset / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["fps"] == 4
    assert info["total_episodes"] == 2
    assert info["total_frames"] == sum(len(SessionReader(s)) for s in sessions)
    for camera in ("base_0_rgb", "left_wrist_0_rgb"):
        feature = info["features"][f"observation.images.{camera}"]
        assert feature["dtype"] == "video" and feature["shape"] == [SIZE, SIZE, 3]
        assert (dataset / f"videos/observation.images.{camera}/chunk-000/file-000.mp4").is_file()
    assert (dataset / "data/chunk-000/file-000.parquet").is_file()
    assert (dataset / "meta/episodes/chunk-000/file-000.parquet").is_file()
    assert (dataset / "meta/tasks.parquet").is_file()
    stats = json.loads((dataset / "meta/stats.json").read_text())
    assert stats["action"]["count"] == [info["total_frames"]]
    assert np.asarray(stats["observation.images.base_0_rgb"]["mean"]).shape == (3, 1, 1)
    assert len(list((dataset / "meta/discrete_action_logs").glob("*.jsonl"))) == 2
    assert not dataset.with_name(dataset.name + ".partial").exists()


def test_reader_gives_back_what_was_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    features = {
        "observation.state": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]},
        "action": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]},
        "observation.images.cam": {"dtype": "video", "shape": [64, 96, 3], "names": None},
    }
    y, x = np.mgrid[0:64, 0:96]
    episodes = []
    with LeRobotWriter(tmp_path / "ds", 10, features) as writer:
        for length in (7, 5):
            state = rng.normal(size=(length, 3)).astype(np.float32)
            frames = np.stack(
                [
                    np.stack([(x * 2 + 9 * t) % 256, (y * 3) % 256, (x + y + t) % 256], -1)
                    for t in range(length)
                ]
            ).astype(np.uint8)
            writer.add_episode(
                {"observation.state": state, "action": state * 2},
                {"observation.images.cam": frames},
                "t",
            )
            episodes.append((state, frames))
        writer.finalize()
    reader = LeRobotReader(tmp_path / "ds")
    assert reader.fps == 10 and reader.tasks == ["t"] and len(reader.episodes) == 2
    for e, (state, frames) in enumerate(episodes):
        data = reader.episode_data(e)
        np.testing.assert_array_equal(data["observation.state"], state)
        np.testing.assert_array_equal(data["action"], state * 2)
        np.testing.assert_array_equal(data["frame_index"], np.arange(len(state)))
        decoded = reader.episode_video(e, "observation.images.cam")
        assert decoded.shape == frames.shape
        assert psnr(decoded, frames) >= 30  # smooth gradients survive yuv420p AV1 well


def test_round_trip_sessions_to_lerobot_and_back(
    dataset: Path, sessions: list[Path], tmp_path: Path
) -> None:
    converted = convert_dataset(dataset, tmp_path / "sessions")
    assert len(converted) == len(sessions)
    for new, old in zip(converted, sessions, strict=True):
        a, b = SessionReader(new), SessionReader(old)
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.action_indices(), b.action_indices())
        assert a.metadata["action_space"] == b.metadata["action_space"]
        assert a.metadata["robot_config"]["mapping"] == "log"
        for i in range(len(a)):
            assert a.frame(i).shape == (2 * SIZE, SIZE, 3)
            assert psnr(a.frame(i), b.frame(i)) >= 30
        np.testing.assert_allclose(
            a.observation(3)["joint_pos"], b.observation(3)["joint_pos"], atol=1e-5
        )


def test_without_logs_actions_are_spaced_evenly(
    dataset: Path, sessions: list[Path], tmp_path: Path
) -> None:
    copy = copy_dataset(dataset, tmp_path)
    shutil.rmtree(copy / "meta/discrete_action_logs")
    with pytest.raises(UserError, match="--joint-name"):
        convert_dataset(copy, tmp_path / "s")
    options = ImportOptions(joint_name="shoulder_pan", action_duration=0.25)
    converted = convert_dataset(copy, tmp_path / "s", options)
    for new, old in zip(converted, sessions, strict=True):
        a, b = SessionReader(new), SessionReader(old)
        assert a.metadata["robot_config"]["mapping"] == "even"
        np.testing.assert_array_equal(a.action_indices(), b.action_indices())


def test_missing_video_chunk_names_the_file_and_leaves_no_session(
    dataset: Path, tmp_path: Path
) -> None:
    copy = copy_dataset(dataset, tmp_path)
    missing = copy / "videos/observation.images.left_wrist_0_rgb/chunk-000/file-001.mp4"
    missing.unlink()
    with pytest.raises(DataError, match=str(missing)):
        convert_dataset(copy, tmp_path / "sessions")
    assert not list((tmp_path / "sessions").rglob("metadata.json"))


def test_wrong_codebase_version_names_info_json(dataset: Path, tmp_path: Path) -> None:
    copy = copy_dataset(dataset, tmp_path)
    info_path = copy / "meta/info.json"
    info = json.loads(info_path.read_text())
    info["codebase_version"] = "v2.1"
    info_path.write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"info\.json.*'v2\.1'.*'v3\.0'"):
        convert_dataset(copy, tmp_path / "sessions")
    assert not (tmp_path / "sessions").exists()


def test_log_disagreeing_with_parquet_names_the_log(dataset: Path, tmp_path: Path) -> None:
    copy = copy_dataset(dataset, tmp_path)
    log = copy / "meta/discrete_action_logs/episode_000001.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for record in lines[2:]:  # flip one MOVE after the anchor into the other direction
        if record["action"] in (1, 2):
            record["action"] = 3 - record["action"]
            break
    log.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DataError, match=rf"{log}.*disagrees with .*file-001\.parquet"):
        convert_dataset(copy, tmp_path / "sessions")
    assert not list((tmp_path / "sessions").rglob("metadata.json"))  # not even episode 0


def test_unknown_camera_lists_the_available_ones(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="left_wrist_0_rgb"):
        convert_dataset(dataset, tmp_path / "s", ImportOptions(cameras=("top",)))


def test_export_refuses_an_existing_folder_and_cleans_up_on_error(
    sessions: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "exists").mkdir()
    with pytest.raises(UserError, match="already exists"):
        export_sessions(sessions, tmp_path / "exists")
    with pytest.raises(DataError):
        export_sessions([*sessions, tmp_path / "not_a_session"], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_cli_converts_both_ways_and_exits_2_on_bad_input(
    sessions: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sensorimotor.cli import main

    out = tmp_path / "ds"
    assert main(["convert", "to-lerobot", str(sessions[0]), str(out)]) == 0
    root = tmp_path / "sessions"
    assert main(["convert", "lerobot", str(out), "--sessions-root", str(root)]) == 0
    assert len(list(root.glob("so101_sim/*/metadata.json"))) == 1
    assert (
        main(["convert", "lerobot", str(tmp_path / "nope" / "x"), "--sessions-root", str(root)])
        == 2
    )
    (out / "meta/info.json").write_text("{broken")
    assert main(["convert", "lerobot", str(out), "--sessions-root", str(root)]) == 2
    assert "info.json" in capsys.readouterr().err


def test_log_mapping_follows_a_loop_slower_than_its_fps(tmp_path: Path) -> None:
    """A real loop at 29 fps recording '30 fps' frames: the wall-clock log drifts half a frame per
    action against the frame count; the mapping stays on the parquet's target changes."""
    from sensorimotor.data.lerobot.action_log import read_action_log, write_action_log
    from sensorimotor.data.lerobot.mapping import map_with_log

    rng = np.random.default_rng(0)
    codes = [1, *rng.integers(0, 3, 39)]
    targets = np.repeat(np.cumsum([(0, 10, -10)[c] for c in codes]), 15).astype(np.float32)
    actions = [
        {"index": k, "action": int(c), "t": 100 + 15 * k / 29, "frame": 15 * k}
        for k, c in enumerate(codes)
    ]
    path = tmp_path / "episode_000000.jsonl"
    header = {
        "joint_name": "shoulder_pan",
        "position_delta": 10.0,
        "action_duration": 0.5,
        "fps": 30,
    }
    write_action_log(path, header, actions)
    mapping = map_with_log(read_action_log(path), targets, 0.0, 30, 10.0, "data.parquet")
    np.testing.assert_array_equal(mapping.starts, 15 * np.arange(40))
    np.testing.assert_array_equal(mapping.actions, codes)


def test_other_discrete_robots_export_their_action_index(tmp_path: Path) -> None:
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot

    robot = ToroidalDotRobot(ToroidalDotConfig(width=64, height=64, seed=0))
    selector = RandomDurationSelector(robot.action_space, 1, 3, seed=0)
    stats = RobotRunner(robot, selector, steps=12, record_to=tmp_path / "s", progress=False).run()
    with pytest.raises(UserError, match="--fps"):
        export_sessions([stats.session], tmp_path / "ds")
    export_sessions([stats.session], tmp_path / "ds", fps=10)
    reader = LeRobotReader(tmp_path / "ds")
    assert reader.features["action"]["shape"] == [1]
    data = reader.episode_data(0)
    session = SessionReader(stats.session)
    indices = session.action_indices()
    np.testing.assert_array_equal(data["action"][:-1], indices[:-1])  # a plain column, as LeRobot's
    assert reader.episode_video(0, "observation.images.image").shape == (len(session), 64, 64, 3)


def test_a_repo_id_that_cannot_be_downloaded_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from sensorimotor.data.lerobot.hub import resolve_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import huggingface_hub.constants

        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    except ImportError:
        pass
    with pytest.raises(UserError, match=r"someone/so101_moves.*(Hugging Face Hub|huggingface_hub)"):
        resolve_dataset("someone/so101_moves")
    with pytest.raises(UserError, match="no such dataset folder"):
        resolve_dataset("./missing/folder/x")
