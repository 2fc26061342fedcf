"""Reading recorded sessions: random access to steps, robot-type detection, replay, listing."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import ConfigError, DataError, UserError
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.interface import (
    Action,
    ActionSpace,
    Exhausted,
    Observation,
    Robot,
    action_space_from_json,
    jsonable,
)
from sensorimotor.robots.recording import FORMAT, WRITING_MARKER, being_written, tree_size

DEFAULT_ROOT = Path("saved/sessions")


@dataclass(frozen=True)
class Step:
    """One recorded step: the observation (frames loaded) and the action taken after it."""

    index: int
    time: float
    observation: Observation
    action: Action | None
    action_time: float | None


class SessionReader:
    """Random access to a recorded session. A torn last line (crash mid-write) is dropped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"{self.path}: session folder not found")
        self.metadata = _read_metadata(self.path)
        self.records = _read_steps(self.path / "steps.jsonl")
        self.action_space: ActionSpace = action_space_from_json(self.metadata["action_space"])

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def robot_type(self) -> str:
        return str(self.metadata["robot_type"])

    @property
    def image_keys(self) -> list[str]:
        """Observation keys stored as PNG frames (from the first step)."""
        if not self.records:
            return []
        return [
            k
            for k, ref in self.records[0]["frames"].items()
            if _reference_file(ref).endswith(("png", "pngpack"))
        ]

    @property
    def complete(self) -> bool:
        """Whether the recording was closed cleanly (False after a crash or while still recording)."""
        return "end_time" in self.metadata

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Step:
        record = self.records[self._check(index)]
        return Step(
            index, record["t"], self.observation(index), record["action"], record.get("t_action")
        )

    def __iter__(self) -> Iterator[Step]:
        for i in range(len(self)):
            yield self[i]

    def frame(self, index: int, key: str = "image") -> np.ndarray:
        """The stored frame (or array) ``key`` of step ``index``."""
        files = self.records[self._check(index)]["frames"]
        if key not in files:
            raise DataError(
                f"{self.path}: step {index} has no frame {key!r}; it has {sorted(files)}"
            )
        return self._load(files[key])

    def frames(self, key: str = "image", start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``key`` of steps ``start..stop`` stacked: ``(T, H, W, C)``."""
        return np.stack(
            [self.frame(i, key) for i in range(start, len(self) if stop is None else stop)]
        )

    def observation(self, index: int) -> Observation:
        """The full observation dict of step ``index`` (frames loaded, extras as arrays/scalars)."""
        record = self.records[self._check(index)]
        observation: Observation = {key: self._load(ref) for key, ref in record["frames"].items()}
        for key, value in record["obs"].items():
            observation[key] = np.asarray(value) if isinstance(value, list) else value
        return observation

    def action(self, index: int) -> Action | None:
        """The action taken after step ``index`` (None for a final observation)."""
        return self.records[self._check(index)]["action"]

    def actions(self) -> list[Action | None]:
        """Every step's action, in order."""
        return [r["action"] for r in self.records]

    def action_indices(self) -> np.ndarray:
        """Discrete action index per step (-1 where no action was taken)."""
        if not isinstance(self.action_space, list):
            raise DataError(
                f"{self.path}: the session's action space is continuous; it has no action indices"
            )
        lookup = {
            json.dumps(jsonable(a), sort_keys=True): i for i, a in enumerate(self.action_space)
        }
        out = np.full(len(self), -1, np.int32)
        for i, action in enumerate(self.actions()):
            if action is not None:
                key = json.dumps(action, sort_keys=True)
                if key not in lookup:
                    raise DataError(
                        f"{self.path}: step {i} has action {action} which is not in the action space"
                    )
                out[i] = lookup[key]
        return out

    def timestamps(self) -> np.ndarray:
        """Observation times (seconds since the epoch)."""
        return np.array([r["t"] for r in self.records], np.float64)

    def _load(self, reference: str | list) -> np.ndarray:
        """Decode a frame from its file (``"frames/image/000000.png"``) or pack range (``[pack, offset, length]``)."""
        if isinstance(reference, str):
            file = self.path / reference
            try:
                data = file.read_bytes()
            except FileNotFoundError:
                raise DataError(f"{file}: frame file is missing") from None
            return _decode(data, file.suffix.lstrip("."), str(file))
        relative, offset, length = reference
        file = self.path / relative
        try:
            with file.open("rb") as f:
                f.seek(offset)
                data = f.read(length)
        except FileNotFoundError:
            raise DataError(f"{file}: frame pack is missing") from None
        if len(data) != length:
            raise DataError(
                f"{file}: frame pack is truncated (wanted bytes {offset}..{offset + length}, file ends earlier)"
            )
        return _decode(data, "npy" if relative.endswith("npypack") else "png", f"{file}@{offset}")

    def _check(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"step {index} out of range for session {self.path} with {len(self)} steps"
            )
        return index % len(self)


def _read_metadata(path: Path) -> dict[str, Any]:
    file = path / "metadata.json"
    if not file.is_file():
        raise DataError(f"{path}: not a session (metadata.json is missing)")
    try:
        metadata = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{file}: corrupt session metadata (invalid JSON: {e})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise DataError(f"{file}: not a sensorimotor session (expected format {FORMAT!r})")
    for key in ("robot_type", "action_space"):
        if key not in metadata:
            raise DataError(f"{file}: session metadata lacks {key!r}")
    return metadata


def _read_steps(file: Path) -> list[dict[str, Any]]:
    if not file.is_file():
        raise DataError(f"{file.parent}: session has no steps.jsonl")
    lines = file.read_bytes().split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not {"t", "action", "frames", "obs"} <= set(record):
                raise ValueError(
                    f"missing keys {sorted({'t', 'action', 'frames', 'obs'} - set(record))}"
                )
        except (json.JSONDecodeError, ValueError, TypeError) as e:
            if number == len(lines):  # a torn final line from a crash: drop it
                break
            raise DataError(f"{file}: line {number} is corrupt ({e})") from None
        records.append(record)
    return records


def _reference_file(reference: str | list) -> str:
    return reference if isinstance(reference, str) else reference[0]


def _decode(data: bytes, kind: str, where: str) -> np.ndarray:
    try:
        if kind == "npy":
            return np.load(io.BytesIO(data), allow_pickle=False)
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{where}: frame is corrupt ({e})") from None


def find_session(name: str | Path, root: str | Path = DEFAULT_ROOT) -> Path:
    """Resolve a session given as a path, ``robot_type/name`` under ``root``, or a bare name."""
    root = Path(root)
    candidate = Path(name)
    if (candidate / "metadata.json").exists() or candidate.is_dir():
        return candidate
    if (root / candidate).is_dir():
        return root / candidate
    matches = [p for p in root.glob(f"*/{name}") if p.is_dir()] if root.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserError(
            f"session name {name!r} is ambiguous: {[str(m) for m in matches]}; use robot_type/name"
        )
    raise UserError(
        f"session {str(name)!r} not found (looked for a path and under {root}/<robot_type>/)"
    )


def detect_robot_type(path: str | Path) -> str:
    """The robot type of a session (from its metadata, else from its parent folder's name)."""
    path = Path(path)
    try:
        return str(_read_metadata(path)["robot_type"])
    except DataError:
        return path.parent.name


@dataclass(frozen=True)
class SessionInfo:
    """A one-line summary of a session on disk."""

    path: Path
    robot_type: str
    name: str
    start_time: str
    steps: int
    size_bytes: int
    status: str


def list_sessions(
    root: str | Path = DEFAULT_ROOT, robot_type: str | None = None
) -> list[SessionInfo]:
    """Sessions under ``root`` (optionally of one robot type), oldest first; unreadable ones marked."""
    root = Path(root)
    if not root.is_dir():
        return []
    infos = []
    robot_dirs = (
        [root / robot_type] if robot_type else sorted(p for p in root.iterdir() if p.is_dir())
    )
    for robot_dir in robot_dirs:
        if not robot_dir.is_dir():
            continue
        for path in sorted(p for p in robot_dir.iterdir() if p.is_dir()):
            try:
                metadata = _read_metadata(path)
                steps = sum(1 for line in (path / "steps.jsonl").open("rb") if line.strip())
                if being_written(path):
                    status = "recording"
                elif "end_time" in metadata:
                    status = "complete"
                else:
                    status = "interrupted"
                start = str(metadata.get("start_time", ""))
            except (DataError, OSError):
                steps, status, start = 0, "corrupt", ""
            infos.append(
                SessionInfo(path, robot_dir.name, path.name, start, steps, tree_size(path), status)
            )
    return sorted(infos, key=lambda s: (s.start_time, str(s.path)))


def delete_session(path: str | Path) -> None:
    """Delete a session folder; refuses folders that are not sessions or are being recorded."""
    path = Path(path)
    if not (path / "metadata.json").exists() and not (path / "steps.jsonl").exists():
        raise UserError(f"{path} does not look like a session; not deleting it")
    if (path / WRITING_MARKER).exists() and being_written(path):
        raise UserError(f"{path} is being recorded right now; not deleting it")
    shutil.rmtree(path)


class ReplayRobot(Robot):
    """Replays a recorded session through the :class:`Robot` interface.

    Observations come from the recording in order; each executed action advances one step.
    Actions that differ from the recorded ones are counted in ``mismatched_actions``.
    Raises :class:`Exhausted` when the session has no more observations (or loops with ``loop``).
    """

    def __init__(self, session: SessionReader | str | Path, loop: bool = False) -> None:
        self.reader = session if isinstance(session, SessionReader) else SessionReader(session)
        if len(self.reader) == 0:
            raise DataError(f"{self.reader.path}: session has no steps to replay")
        self.robot_type = self.reader.robot_type
        self.loop = loop
        self.position = 0
        self.mismatched_actions = 0

    @property
    def action_space(self) -> ActionSpace:
        return self.reader.action_space

    def get_observation(self) -> Observation:
        if self.position >= len(self.reader):
            if not self.loop:
                raise Exhausted(
                    f"session {self.reader.path} has ended after {len(self.reader)} steps"
                )
            self.position = 0
        return self.reader.observation(self.position)

    def execute_action(self, action: Action) -> None:
        recorded = self.reader.action(min(self.position, len(self.reader) - 1))
        if recorded is not None and jsonable(action) != recorded:
            self.mismatched_actions += 1
        self.position += 1

    def config_dict(self) -> dict[str, Any]:
        return {"replay_of": str(self.reader.path), **self.reader.metadata.get("robot_config", {})}


@dataclass
class ReplayRobotConfig(RobotConfig):
    """A recorded ``session`` (path or ``robot_type/name``) replayed as a robot (``robot=replay``);
    pair it with ``selector=recorded`` on the same session to follow the recorded actions."""

    type: str = "replay"
    session: str = ""
    loop: bool = False

    def make(self) -> ReplayRobot:
        if not self.session:
            raise ConfigError("robot.session is required for the replay robot (a session path)")
        return ReplayRobot(find_session(self.session), loop=self.loop)
