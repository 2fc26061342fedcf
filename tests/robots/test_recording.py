import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.robots.interface import Exhausted, action_space_to_json
from sensorimotor.robots.recording import (
    WRITING_MARKER,
    RecordingRobot,
    SessionWriter,
    encode_png,
)
from sensorimotor.robots.runner import RobotRunner
from sensorimotor.robots.selectors import RandomDurationSelector, RecordedSelector
from sensorimotor.robots.session import (
    ReplayRobot,
    SessionReader,
    delete_session,
    detect_robot_type,
    find_session,
    list_sessions,
)
from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot
from sensorimotor.robots.writer_process import ProcessSessionWriter, wait_for_writer


def record(root, steps=25, seed=0, **kwargs):
    robot = ToroidalDotRobot(ToroidalDotConfig(seed=seed))
    recorder = RecordingRobot(robot, root, **kwargs)
    selector = RandomDurationSelector(robot.action_space, 1, 3, seed=seed)
    observations, actions = [], []
    for _ in range(steps):
        obs = recorder.get_observation()
        action = selector(obs)
        recorder.execute_action(action)
        observations.append(obs)
        actions.append(action)
    recorder.cleanup()
    return recorder.session_path, observations, actions


@pytest.mark.parametrize("frame_storage", ["pack", "files"])
@pytest.mark.parametrize("writer", ["process", "thread", "sync"])
def test_record_read_replay_round_trip(tmp_path, frame_storage, writer):
    path, observations, actions = record(tmp_path, frame_storage=frame_storage, writer=writer)
    assert path.parent == tmp_path / "toroidal_dot"
    reader = SessionReader(path)
    assert len(reader) == 25 and reader.complete and reader.robot_type == "toroidal_dot"
    assert reader.image_keys == ["image"]
    assert reader.action_space == [{"action": 0}, {"action": 1}]
    assert reader.metadata["robot_config"]["seed"] == 0
    for i in (0, 7, 24, -1):
        step = reader[i]
        np.testing.assert_array_equal(step.observation["image"], observations[i]["image"])
        assert step.observation["dot_x"] == observations[i]["dot_x"]
        assert step.action == actions[i]
    assert reader.frames().shape == (25, 224, 224, 3)
    assert list(reader.action_indices()) == [a["action"] for a in actions]
    # Replay through the Robot interface gives the same stream back.
    replay = ReplayRobot(reader)
    selector = RecordedSelector(reader)
    for i in range(25):
        np.testing.assert_array_equal(replay.get_observation()["image"], observations[i]["image"])
        replay.execute_action(selector({}))
    assert replay.mismatched_actions == 0
    with pytest.raises(Exhausted):
        replay.get_observation()


def test_png_encoder_is_lossless_for_any_channel_count(tmp_path):
    rng = np.random.default_rng(0)
    for shape in [(7, 5), (7, 5, 1), (7, 5, 3), (7, 5, 4)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        (tmp_path / "x.png").write_bytes(encode_png(image))
        decoded = np.asarray(Image.open(tmp_path / "x.png"))
        np.testing.assert_array_equal(decoded.reshape(image.shape), image)


def test_non_image_arrays_and_extras_are_stored(tmp_path):
    class DepthRobot(ToroidalDotRobot):
        def get_observation(self):
            obs = super().get_observation()
            return {
                **obs,
                "depth": np.full((16, 16), 1.5, np.float32),
                "joint": np.array([0.1, 0.2]),
            }

    recorder = RecordingRobot(DepthRobot(seed=0), tmp_path)
    recorder.get_observation()
    recorder.execute_action({"action": 1})
    recorder.cleanup()
    obs = SessionReader(recorder.session_path).observation(0)
    assert obs["depth"].dtype == np.float32 and obs["depth"].shape == (16, 16)
    np.testing.assert_allclose(obs["joint"], [0.1, 0.2])


def test_final_observation_without_action(tmp_path):
    recorder = RecordingRobot(ToroidalDotRobot(seed=0), tmp_path)
    recorder.get_observation()
    recorder.execute_action({"action": 1})
    recorder.get_observation()
    recorder.cleanup()
    reader = SessionReader(recorder.session_path)
    assert len(reader) == 2 and reader.action(1) is None
    assert list(reader.action_indices()) == [1, -1]


_RECORDER = """
import os, sys
from sensorimotor.robots.recording import RecordingRobot
from sensorimotor.robots.toroidal_dot import ToroidalDotRobot
recorder = RecordingRobot(ToroidalDotRobot(seed=0), sys.argv[1], session_name="crash", writer="process")
i = 0
while True:
    recorder.get_observation()
    recorder.execute_action({"action": i % 2})
    i += 1
    os.write(1, b"%d\\n" % i)  # steps whose action returned, i.e. handed to the writer
"""


def test_kill_9_of_the_robot_loses_at_most_the_step_in_flight(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORDER, str(tmp_path)], stdout=subprocess.PIPE
    )
    try:
        while int(proc.stdout.readline()) < 200:
            pass
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = int(proc.stdout.read().split()[-1])  # the last step the robot finished
    path = tmp_path / "toroidal_dot" / "crash"
    assert wait_for_writer(path, timeout=60)  # the writer process drains the ring, then exits
    reader = SessionReader(path)
    assert done <= len(reader) <= done + 1 and not reader.complete
    for i in (0, len(reader) // 2, len(reader) - 1):  # every listed step reads back whole
        assert reader.frame(i).shape == (224, 224, 3)
        assert reader.action(i) == {"action": i % 2}
    assert (path / WRITING_MARKER).exists()
    [info] = list_sessions(tmp_path)
    assert info.status == "interrupted" and info.steps == len(reader)


def test_torn_last_line_is_dropped_but_corrupt_middle_is_an_error(tmp_path):
    path, _, _ = record(tmp_path, steps=5)
    lines = (path / "steps.jsonl").read_text().splitlines(keepends=True)
    (path / "steps.jsonl").write_text("".join(lines) + lines[0][: len(lines[0]) // 2])
    assert len(SessionReader(path)) == 5
    (path / "steps.jsonl").write_text(lines[0] + "{not json\n" + "".join(lines[2:]))
    with pytest.raises(DataError, match=r"steps.jsonl: line 2 is corrupt"):
        SessionReader(path)


def test_missing_and_corrupt_sessions_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="session folder not found"):
        SessionReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="metadata.json is missing"):
        SessionReader(tmp_path / "empty")
    path, _, _ = record(tmp_path, steps=3)
    (path / "metadata.json").write_text("{broken")
    with pytest.raises(DataError, match="corrupt session metadata"):
        SessionReader(path)


def test_truncated_frame_pack_is_a_clear_error(tmp_path):
    path, _, _ = record(tmp_path, steps=4)
    pack = path / "frames" / "image.pngpack"
    pack.write_bytes(pack.read_bytes()[:-100])
    reader = SessionReader(path)
    reader.frame(0)
    with pytest.raises(DataError, match="truncated"):
        reader.frame(3)
    path, _, _ = record(tmp_path, steps=2, frame_storage="files")
    (path / "frames" / "image" / "000001.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="000001.png: frame is corrupt"):
        SessionReader(path).frame(1)


def test_disk_budget_deletes_oldest_but_never_the_current(tmp_path):
    old = [record(tmp_path, steps=20, seed=s, session_name=f"old{s}")[0] for s in range(3)]
    size = sum(f.stat().st_size for f in old[0].rglob("*") if f.is_file())
    budget_gb = 2.5 * size / 1e9  # room for the new session and one more
    new, _, _ = record(tmp_path, steps=20, seed=9, session_name="new", disk_budget_gb=budget_gb)
    remaining = sorted(p.name for p in (tmp_path / "toroidal_dot").iterdir())
    assert "new" in remaining and "old0" not in remaining and "old2" in remaining
    # A budget smaller than the current session alone keeps the current one (with a warning).
    with pytest.warns(UserWarning, match="exceeds the disk budget"):
        current, _, _ = record(
            tmp_path, steps=20, session_name="big", disk_budget_gb=size / 10 / 1e9
        )
    assert [p.name for p in (tmp_path / "toroidal_dot").iterdir()] == ["big"]
    assert len(SessionReader(current)) == 20


def test_disk_budget_spares_sessions_being_written_by_live_processes(tmp_path):
    old, _, _ = record(tmp_path, steps=10, session_name="live")
    (old / WRITING_MARKER).write_text(str(os.getpid()))  # pretend another recorder is still writing
    with pytest.warns(UserWarning, match="exceeds the disk budget"):
        record(tmp_path, steps=10, session_name="new", disk_budget_gb=1e-9)
    assert old.exists()


def test_find_list_detect_delete(tmp_path):
    path, _, _ = record(tmp_path, steps=3, session_name="s1")
    assert find_session("s1", tmp_path) == path
    assert find_session("toroidal_dot/s1", tmp_path) == path
    assert find_session(str(path), tmp_path) == path
    with pytest.raises(UserError, match="not found"):
        find_session("s2", tmp_path)
    assert detect_robot_type(path) == "toroidal_dot"
    [info] = list_sessions(tmp_path)
    assert (info.name, info.steps, info.status) == ("s1", 3, "complete") and info.size_bytes > 0
    with pytest.raises(UserError, match="does not look like a session"):
        delete_session(tmp_path)
    delete_session(path)
    assert list_sessions(tmp_path) == []


def test_runner_records_and_ctrl_c_keeps_the_session(tmp_path):
    class InterruptingRobot(ToroidalDotRobot):
        steps = 0

        def execute_action(self, action):
            super().execute_action(action)
            self.steps += 1
            if self.steps == 12:
                raise KeyboardInterrupt

    robot = InterruptingRobot(seed=0)
    stats = RobotRunner(
        robot,
        RandomDurationSelector(robot.action_space, seed=0),
        steps=100,
        record_to=tmp_path,
        progress=False,
    ).run()
    assert stats.stopped_by == "interrupt"
    reader = SessionReader(stats.session)
    assert (
        reader.complete and len(reader) == 12
    )  # the interrupted step's observation is kept without action
    assert reader.action(11) is None and reader.action(10) is not None
    meta = json.loads((stats.session / "metadata.json").read_text())
    assert meta["steps"] == 12


def test_a_dead_writer_process_is_an_error_naming_the_session(tmp_path):
    recorder = RecordingRobot(
        ToroidalDotRobot(seed=0), tmp_path, session_name="orphan", writer="process"
    )
    recorder.get_observation()
    recorder.execute_action({"action": 0})
    os.kill(recorder.writer.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="orphan.*writer process exited with code -9"):
        for _ in range(2000):  # the ring fills up, or cleanup finds the writer gone
            recorder.get_observation()
            recorder.execute_action({"action": 0})
        recorder.cleanup()


def test_unknown_recording_writer_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="writer must be one of"):
        RecordingRobot(ToroidalDotRobot(seed=0), tmp_path, writer="fast")


def test_the_writer_process_writes_the_same_bytes_as_the_in_process_writer(tmp_path):
    """Same steps through both writers (the process one copying frames, and drawing them again
    from the robot's frame recipe): identical steps.jsonl and packs, including steps whose
    observation layout changes and a ring so small that it wraps around many times."""
    robot = ToroidalDotRobot(seed=3)
    space = robot.action_space
    steps = []
    for i in range(40):
        obs = dict(robot.get_observation())
        if i % 3 == 0:  # the layout changes from step to step
            obs["depth"] = np.full((9, 9), i, np.float32)
            obs["label"] = f"step {i}"
        steps.append((obs, 100.0 + i, {"action": i % 2} if i < 39 else None, 100.5 + i))
        robot.execute_action({"action": i % 2})
    paths = {}
    for kind in ("sync", "process", "redrawn"):
        paths[kind] = tmp_path / kind
        paths[kind].mkdir()
        meta = {"robot_type": "toroidal_dot", "action_space": action_space_to_json(space)}
        if kind == "sync":
            writer = SessionWriter(paths[kind], meta, async_writes=False)
        else:
            recipes = robot.frame_recipes() if kind == "redrawn" else None
            writer = ProcessSessionWriter(paths[kind], meta, ring_mb=1, recipes=recipes)
        for step in steps:
            writer.write(*step)
        writer.close()
        assert writer.steps_written == 40
    for kind in ("process", "redrawn"):
        for name in ("steps.jsonl", "frames/image.pngpack", "frames/depth.npypack"):
            assert (paths[kind] / name).read_bytes() == (paths["sync"] / name).read_bytes(), name
        assert SessionReader(paths[kind]).complete


class _OffByOneDot(ToroidalDotRobot):
    """A robot whose frame recipe is wrong (draws the dot one pixel to the right)."""

    def frame_recipes(self):
        name, size = super().frame_recipes()["image"]
        return {"image": (f"{__name__}:_shifted_dot", size)}


def _shifted_dot(values, **size):
    from sensorimotor.robots.toroidal_dot import redraw_image

    return redraw_image({**values, "dot_x": values["dot_x"] + 1}, **size)


def test_a_frame_recipe_that_draws_another_frame_is_caught_and_the_real_frames_recorded(
    tmp_path,
):
    path, observations, _ = record_with(_OffByOneDot(seed=0), tmp_path, steps=12)
    reader = SessionReader(path)
    for i, obs in enumerate(observations):
        assert np.array_equal(reader[i].observation["image"], obs["image"]), i


def record_with(robot, root, steps):
    with pytest.warns(UserWarning, match="frame recipe for 'image'.*does not reproduce"):
        recorder = RecordingRobot(robot, root, writer="process")
        observations = []
        for i in range(steps):
            observations.append(recorder.get_observation())
            recorder.execute_action({"action": i % 2})
        recorder.cleanup()
    return recorder.session_path, observations, None


def test_the_writer_process_inherits_no_socket_or_other_descriptor(tmp_path):
    """Started while the robot holds a connection (as a networked robot does), the writer has
    only its standard streams, the ring and the lock: nothing of the connection."""
    import socket

    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()),
    ):
        recorder = RecordingRobot(ToroidalDotRobot(seed=0), tmp_path, writer="process")
        try:
            fds = {
                int(fd): os.readlink(f"/proc/{recorder.writer.pid}/fd/{fd}")
                for fd in os.listdir(f"/proc/{recorder.writer.pid}/fd")
            }
        finally:
            recorder.cleanup()
    assert not [t for t in fds.values() if t.startswith("socket:")], fds
    assert len(fds) <= 5, fds  # 0-2, the ring's memfd, the lock
