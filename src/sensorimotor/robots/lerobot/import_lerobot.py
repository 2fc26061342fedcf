"""LeRobot v3.0 dataset → sensorimotor sessions: one session per episode, one step per discrete action.

Each step's observation is the frame where its action starts (the chosen cameras stacked into
``image``) with ``joint_pos`` from ``observation.state``; its action is
``{"joint": name, "delta": ±position_delta or 0}``, the same action space as ``robot=so101_sim``.
Everything (logs, parquet, videos) is read and checked before a session folder is created, and a
session whose writing fails is removed: an error never leaves a half-written session behind.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.data.lerobot.action_log import ActionLog, read_action_log
from sensorimotor.data.lerobot.layout import IMAGE_PREFIX, data_file
from sensorimotor.data.lerobot.mapping import ActionMapping, infer_delta, map_evenly, map_with_log
from sensorimotor.data.lerobot.reader import LeRobotReader
from sensorimotor.robots.interface import action_space_to_json
from sensorimotor.robots.recording import SessionWriter, new_session_dir
from sensorimotor.robots.so101.constants import JOINTS, camera_layout, discrete_actions


@dataclass(frozen=True)
class ImportOptions:
    """What to take from the dataset; None means "from the action log header"."""

    cameras: tuple[str, ...] = ("base_0_rgb", "left_wrist_0_rgb")
    stack: str = "vertical"
    joint_name: str | None = None
    action_duration: float | None = None
    position_delta: float | None = None
    robot_type: str | None = None  # session folder; default: the dataset's robot_type


@dataclass(frozen=True)
class EpisodePlan:
    """One episode, read and checked, ready to write."""

    episode: int
    joint_name: str
    position_delta: float
    mapping: ActionMapping
    frames: np.ndarray  # uint8 (K + 1, H, W, 3) stacked camera frames at the step starts
    joint_pos: np.ndarray  # float32 (K + 1, D)
    times: np.ndarray  # float (K + 1,) seconds
    log: Path | None


def convert_dataset(
    source: str | Path, out_root: str | Path, options: ImportOptions | None = None
) -> list[Path]:
    """Convert every episode of the dataset at ``source`` into sessions under ``out_root``."""
    options = options or ImportOptions()
    if options.stack not in ("vertical", "horizontal"):
        raise UserError(f"--stack-cameras must be vertical or horizontal, got {options.stack!r}")
    reader = LeRobotReader(source)
    logs = _episode_logs(reader)
    plans = [plan_episode(reader, e, logs.get(e), options) for e in range(len(reader.episodes))]
    robot_type = options.robot_type or reader.robot_type or "lerobot"
    return [write_session(reader, plan, Path(out_root) / robot_type, options) for plan in plans]


def plan_episode(
    reader: LeRobotReader, episode: int, log: ActionLog | None, options: ImportOptions
) -> EpisodePlan:
    """Read one episode, map actions to frames and decode the step frames (no writing)."""
    meta = reader.episodes[episode]
    where = str(data_file(reader.root, meta["data/chunk_index"], meta["data/file_index"]))
    header = log.header if log else {}
    joint = options.joint_name or header.get("joint_name")
    if joint is None:
        raise UserError(
            f"{reader.root}: episode {episode} has no action log; give --joint-name (one of {list(JOINTS)})"
        )
    data = reader.episode_data(episode)
    for key in ("action", "observation.state"):
        if key not in data:
            raise DataError(f"{where}: no {key!r} column; columns: {sorted(data)}")
    j = _joint_column(reader, joint)
    targets, initial = data["action"][:, j], float(data["observation.state"][0, j])
    delta = options.position_delta or header.get("position_delta") or infer_delta(targets, initial)
    if not delta:
        raise DataError(
            f"{where}: joint {joint!r} never moves in episode {episode}; nothing to convert"
        )
    if log is not None:
        fps = float(header.get("fps") or reader.fps)
        if int(round(fps)) != reader.fps:
            raise DataError(
                f"{log.path} disagrees with {reader.root}/meta/info.json: fps {fps} vs {reader.fps}"
            )
        mapping = map_with_log(log, targets, initial, reader.fps, float(delta), where)
    else:
        duration = options.action_duration
        if duration is None:
            raise UserError(
                f"{reader.root}: episode {episode} has no action log; give --action-duration"
            )
        per_action = max(1, round(duration * reader.fps))
        mapping = map_evenly(targets, initial, per_action, float(delta), where)
    steps = _step_frames(mapping, len(targets))
    frames = _stacked_frames(reader, episode, steps, options)
    times = data["timestamp"][steps].astype(np.float64)
    if log is not None:  # wall-clock times of the actions where known
        times = times - times[0] + float(log.actions[0]["t"])
    state = np.asarray(data["observation.state"], np.float32)[steps]
    return EpisodePlan(
        episode, joint, float(delta), mapping, frames, state, times, log.path if log else None
    )


def write_session(
    reader: LeRobotReader, plan: EpisodePlan, robot_dir: Path, options: ImportOptions
) -> Path:
    """Write one planned episode as a session; on any error the session folder is removed."""
    name = f"{reader.root.name}_ep{plan.episode:04d}"
    path = new_session_dir(robot_dir, name)
    space = discrete_actions(plan.joint_name, plan.position_delta)
    height, width = plan.frames.shape[1:3]
    cams = len(options.cameras)
    cam_h, cam_w = (
        (height // cams, width) if options.stack == "vertical" else (height, width // cams)
    )
    config: dict[str, Any] = {
        "type": "lerobot_import",
        "source": str(reader.root),
        "episode": plan.episode,
        "fps": reader.fps,
        "joint": plan.joint_name,
        "position_delta": plan.position_delta,
        "action_duration": plan.mapping.frames_per_action / reader.fps,
        "frames_per_action": plan.mapping.frames_per_action,
        "action_start_frames": plan.mapping.starts.tolist(),
        "mapping": plan.mapping.method,
        "action_log": str(plan.log) if plan.log else None,
        "joint_names": [n.split(".")[0] for n in reader.names("observation.state")],
        "camera_layout": {**camera_layout(options.cameras, cam_h, cam_w), "stack": options.stack},
    }
    metadata = {
        "robot_type": robot_dir.name,
        "action_space": action_space_to_json(space),
        "robot_config": config,
        "config": {},
        "start_time": _iso(plan.times[0]) if plan.log else "",
    }
    try:
        writer = SessionWriter(path, metadata, async_writes=False)
        try:
            for k in range(len(plan.frames)):
                action = (
                    space[int(plan.mapping.actions[k])] if k < len(plan.mapping.actions) else None
                )
                observation = {"image": plan.frames[k], "joint_pos": plan.joint_pos[k]}
                t = float(plan.times[k])
                writer.write(observation, t, action, t if action else None)
        finally:
            writer.close()
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def _iso(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(float(seconds)).astimezone().isoformat()


def _episode_logs(reader: LeRobotReader) -> dict[int, ActionLog]:
    """Action logs by episode index (one log per episode, or none at all)."""
    files = reader.action_logs()
    if not files:
        return {}
    logs = [read_action_log(f) for f in files]
    if len(logs) != len(reader.episodes):
        raise DataError(
            f"{reader.root}/meta/discrete_action_logs: {len(logs)} action logs for "
            f"{len(reader.episodes)} episodes; remove the logs of discarded episodes"
        )
    return dict(enumerate(logs))


def _joint_column(reader: LeRobotReader, joint: str) -> int:
    names = [n.split(".")[0] for n in reader.names("action")]
    if joint in names:
        return names.index(joint)
    if not names and joint in JOINTS:
        return JOINTS.index(joint)
    raise UserError(f"{reader.root}: joint {joint!r} is not among the action names {names}")


def _step_frames(mapping: ActionMapping, length: int) -> np.ndarray:
    """The frame of each step: every action start, then the frame the last action ends at."""
    end = min(int(mapping.starts[-1]) + mapping.frames_per_action, length - 1)
    return np.append(mapping.starts, end).astype(np.int64)


def _stacked_frames(
    reader: LeRobotReader, episode: int, steps: np.ndarray, options: ImportOptions
) -> np.ndarray:
    keys = [IMAGE_PREFIX + c for c in options.cameras]
    missing = [k for k in keys if k not in reader.video_keys]
    if missing:
        raise UserError(
            f"{reader.root}: no camera {[k.removeprefix(IMAGE_PREFIX) for k in missing]}; its "
            f"cameras: {[k.removeprefix(IMAGE_PREFIX) for k in reader.video_keys]}"
        )
    per_camera = [reader.episode_video(episode, k, steps) for k in keys]
    axis = 0 if options.stack == "vertical" else 1
    sizes = {f.shape[1 - axis + 1] for f in per_camera}
    if len(sizes) > 1:
        raise DataError(
            f"{reader.root}: cameras {list(options.cameras)} differ in size "
            f"{[f.shape[1:3] for f in per_camera]}; they cannot be stacked {options.stack}ly"
        )
    return np.concatenate(per_camera, axis=axis + 1)
