"""sensorimotor sessions → a LeRobot v3.0 dataset: one episode per session, one frame per step.

- cameras: a session whose ``robot_config.camera_layout`` says how ``image`` is stacked (the SO-101)
  is split back into its cameras; otherwise every image observation is a camera of its own;
- ``observation.state``: ``joint_pos`` when the session has it (names ``<joint>.pos``);
- ``action``: for joint-delta actions (``{"joint", "delta"}``, the SO-101's) the commanded joint
  targets, which start at the first ``joint_pos`` and add each action's delta; for other discrete
  robots the action index; for continuous robots the action vector. The last observation (no
  action) holds the last target;
- joint-delta sessions also get a discrete action log per episode, so the dataset converts back.

fps is ``1 / action_duration`` (or ``control_period``) of the sessions unless given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.data.lerobot.action_log import write_action_log
from sensorimotor.data.lerobot.layout import IMAGE_PREFIX, LOGS_DIR
from sensorimotor.data.lerobot.writer import LeRobotWriter
from sensorimotor.robots.interface import Box, action_index
from sensorimotor.robots.session import SessionReader


def export_sessions(
    sessions: Sequence[str | Path],
    out: str | Path,
    fps: int | None = None,
    task: str = "",
    codec: str = "libsvtav1",
    crf: int = 20,
) -> Path:
    """Write ``sessions`` as a LeRobot dataset at ``out`` (created atomically); returns ``out``."""
    readers = [SessionReader(s) for s in sessions]
    if not readers:
        raise UserError("no sessions to export")
    first = readers[0]
    for reader in readers[1:]:
        if reader.metadata["action_space"] != first.metadata["action_space"]:
            raise DataError(
                f"{reader.path}: its action space differs from {first.path}'s; export one robot's sessions"
            )
    for reader in readers:
        if len(reader) < 2:
            raise DataError(f"{reader.path}: a session needs at least 2 steps to export")
    fps = fps or _session_fps(first)
    features = _features(first)
    joint_delta = _is_joint_delta(first)
    out = Path(out)
    with LeRobotWriter(
        out, fps, features, robot_type=first.robot_type, codec=codec, crf=crf
    ) as writer:
        for episode, reader in enumerate(readers):
            data, videos = episode_arrays(reader, features)
            writer.add_episode(data, videos, task or reader.robot_type)
            if joint_delta:
                _write_log(writer.partial / LOGS_DIR, episode, reader, fps)
        return writer.finalize()


def episode_arrays(
    reader: SessionReader, features: dict[str, dict[str, Any]]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A session's per-frame feature arrays and per-camera frames."""
    layout = reader.metadata.get("robot_config", {}).get("camera_layout")
    videos: dict[str, list[np.ndarray]] = {
        k: [] for k in features if features[k]["dtype"] == "video"
    }
    states = []
    for i in range(len(reader)):
        observation = reader.observation(i)
        for key, frame in _cameras(observation, layout, reader).items():
            videos[IMAGE_PREFIX + key].append(frame)
        if "observation.state" in features:
            states.append(np.asarray(observation["joint_pos"], np.float32))
    data = {"action": _actions(reader, np.stack(states) if states else None)}
    if states:
        data["observation.state"] = np.stack(states)
    return data, {k: np.stack(v) for k, v in videos.items()}


def _features(reader: SessionReader) -> dict[str, dict[str, Any]]:
    observation = reader.observation(0)
    layout = reader.metadata.get("robot_config", {}).get("camera_layout")
    features: dict[str, dict[str, Any]] = {}
    if "joint_pos" in observation:
        names = reader.metadata.get("robot_config", {}).get("joint_names")
        size = int(np.asarray(observation["joint_pos"]).size)
        names = (
            [f"{n}.pos" for n in names]
            if names and len(names) == size
            else [f"joint_{i}.pos" for i in range(size)]
        )
        features["observation.state"] = {"dtype": "float32", "shape": [size], "names": names}
    space = reader.action_space
    if _is_joint_delta(reader):
        features["action"] = dict(features["observation.state"])
    elif isinstance(space, Box):
        names = list(space.names) or [f"action_{i}" for i in range(len(space.low))]
        features["action"] = {"dtype": "float32", "shape": [len(space.low)], "names": names}
    else:
        features["action"] = {"dtype": "float32", "shape": [1], "names": ["action_index"]}
    for key, frame in _cameras(observation, layout, reader).items():
        features[IMAGE_PREFIX + key] = {
            "dtype": "video",
            "shape": list(frame.shape),
            "names": ["height", "width", "channels"],
        }
    if not any(f["dtype"] == "video" for f in features.values()):
        raise DataError(f"{reader.path}: the session has no camera frames to export")
    return features


def _cameras(
    observation: dict[str, Any], layout: dict | None, reader: SessionReader
) -> dict[str, np.ndarray]:
    """Camera name → frame, splitting a stacked ``image`` when the layout says how."""
    images = {
        k: v
        for k, v in observation.items()
        if isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 3
    }
    if layout and "image" in images:
        cams = layout["cameras"]
        axis = 0 if layout.get("stack", "vertical") == "vertical" else 1
        image = images.pop("image")
        if image.shape[axis] % len(cams):
            raise DataError(
                f"{reader.path}: image of shape {image.shape} does not split into {len(cams)} cameras"
            )
        parts = np.split(image, len(cams), axis=axis)
        return {**dict(zip(cams, parts, strict=True)), **images}
    return images


def _is_joint_delta(reader: SessionReader) -> bool:
    space = reader.action_space
    return (
        isinstance(space, list)
        and all(isinstance(a, dict) and set(a) == {"joint", "delta"} for a in space)
        and "joint_pos" in reader.records[0]["obs"]
    )


def _actions(reader: SessionReader, states: np.ndarray | None) -> np.ndarray:
    actions = reader.actions()
    space = reader.action_space
    if _is_joint_delta(reader):
        assert states is not None
        names = reader.metadata.get("robot_config", {}).get("joint_names") or []
        joint = space[0]["joint"]
        if joint not in names:
            raise DataError(
                f"{reader.path}: joint {joint!r} not in the session's joint_names {names}"
            )
        column = names.index(joint)
        target = states[0].astype(np.float32).copy()
        out = []
        for action in actions:
            if action is not None:
                target[column] += float(action["delta"])
            out.append(target.copy())
        return np.stack(out)
    if isinstance(space, Box):
        last = np.zeros(len(space.low), np.float32)
        rows = []
        for action in actions:
            if action is not None:
                last = np.asarray(action[space.key], np.float32)
            rows.append(last)
        return np.stack(rows)
    return np.array([[action_index(space, a) if a is not None else 0] for a in actions], np.float32)


def _write_log(folder: Path, episode: int, reader: SessionReader, fps: int) -> None:
    space = reader.action_space
    codes = reader.action_indices()
    delta = max(abs(float(a["delta"])) for a in space)
    times = reader.timestamps()
    header = {
        "episode": episode,
        "joint_name": space[0]["joint"],
        "position_delta": delta,
        "action_duration": 1.0 / fps,
        "fps": fps,
        "frames_per_action": 1,
        "mode": "session",
        "source_session": str(reader.path),
    }
    # The dataset's timeline is one frame per step at fps, so that is the log's clock too; the
    # recorded wall-clock time of each step is kept alongside.
    actions = [
        {
            "index": i,
            "action": _code(space[int(c)], delta),
            "t": float(times[0]) + i / fps,
            "t_recorded": float(times[i]),
            "frame": i,
        }
        for i, c in enumerate(codes)
        if c >= 0
    ]
    write_action_log(folder / f"episode_{episode:06d}.jsonl", header, actions)


def _code(action: dict, delta: float) -> int:
    d = float(action["delta"])
    return 0 if d == 0 else (1 if d > 0 else 2)


def _session_fps(reader: SessionReader) -> int:
    config = reader.metadata.get("robot_config", {})
    period = config.get("action_duration") or config.get("control_period")
    if not period:
        raise UserError(f"{reader.path}: cannot tell the session's step rate; give --fps")
    fps = round(1.0 / float(period))
    if fps < 1 or abs(fps - 1.0 / float(period)) > 1e-6:
        raise UserError(
            f"{reader.path}: a step lasts {period} s, which is not a whole number of frames per "
            "second; give --fps"
        )
    return fps
