"""Reading recorded sessions: random access to steps, robot-type detection, replay, listing."""

from __future__ import annotations

import io
import json
import os
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
    """Random access to a recorded session. A torn last line (crash mid-write) is dropped.

    A *view* (see :func:`write_view`) reads steps ``start..stop`` of its root session, a sibling
    folder; its frames are read from the root folder under the same confinement rules."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"{self.path}: session folder not found")
        if self.path.is_symlink():
            raise DataError(
                f"{self.path}: is a symbolic link; sessions are read only from real folders"
            )
        self.metadata = _read_metadata(self.path)
        self.view = self.metadata.get("view")
        if self.view is None:
            self._base = self.path
            self.records = _read_steps(self.path / "steps.jsonl")
        else:
            self._base, start, stop = _view_root(self.path, self.view)
            records = _read_steps(self._base / "steps.jsonl")
            if stop > len(records):
                raise DataError(
                    f"{self.path / 'metadata.json'}: view of steps {start}..{stop} but its root "
                    f"session {self._base} has {len(records)} steps"
                )
            self.records = records[start:stop]
        self._real = self._base.resolve()
        try:
            self.action_space: ActionSpace = action_space_from_json(self.metadata["action_space"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(
                f"{self.path / 'metadata.json'}: bad 'action_space' "
                f"({type(e).__name__}: {e}); expected a list of action dicts or a box spec"
            ) from None

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
        """Whether the recording was closed cleanly and every step it wrote is still there."""
        return "end_time" in self.metadata and self.missing_steps == 0

    @property
    def missing_steps(self) -> int:
        """Steps the closed session's metadata counts but ``steps.jsonl`` no longer holds."""
        return missing_steps(self.metadata, len(self.records))

    @property
    def status(self) -> str:
        """``complete``, ``truncated (N of M steps)`` or ``interrupted``."""
        return session_status(self.metadata, len(self.records))

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
            file = self._confined(reference)
            try:
                data = file.read_bytes()
            except FileNotFoundError:
                raise DataError(f"{file}: frame file is missing") from None
            return _decode(data, file.suffix.lstrip("."), str(file))
        relative, offset, length = reference
        file = self._confined(relative)
        try:
            with file.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                if (
                    offset + length > size
                ):  # checked before reading: a crafted length allocates nothing
                    raise DataError(
                        f"{file}: frame pack is truncated (wanted bytes {offset}..{offset + length}, "
                        f"the file ends at {size})"
                    )
                f.seek(offset)
                data = f.read(length)
        except FileNotFoundError:
            raise DataError(f"{file}: frame pack is missing") from None
        return _decode(data, "npy" if relative.endswith("npypack") else "png", f"{file}@{offset}")

    def _confined(self, relative: str) -> Path:
        """The frame file ``relative`` names, refused unless it lies inside the session folder
        (a view's root session folder)."""
        candidate = Path(relative)
        file = self._base / candidate
        if candidate.is_absolute() or ".." in candidate.parts or not candidate.parts:
            raise DataError(
                f"{self._base}: frame reference {relative!r} points outside the session folder"
            )
        if file.is_symlink() or not file.resolve().is_relative_to(self._real):
            raise DataError(
                f"{file}: frame reference is a symbolic link or leaves the session folder; refused"
            )
        return file

    def _check(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"step {index} out of range for session {self.path} with {len(self)} steps"
            )
        return index % len(self)


def _view_root(path: Path, view: Any) -> tuple[Path, int, int]:
    """The root session folder of the view at ``path`` and its step range; refuses anything but a
    real sibling session folder that is not itself a view."""
    where = path / "metadata.json"
    if not isinstance(view, dict) or not {"of", "start", "stop"} <= set(view):
        raise DataError(f"{where}: bad 'view' {view!r}; expected {{of, start, stop}}")
    of, start, stop = view["of"], view["start"], view["stop"]
    if not isinstance(of, str) or not of or Path(of).name != of or of in (".", ".."):
        raise DataError(f"{where}: view of {of!r}: expected the name of a sibling session folder")
    if not (type(start) is int and type(stop) is int and 0 <= start < stop):
        raise DataError(f"{where}: view range {start!r}..{stop!r}: expected 0 <= start < stop")
    root = path.parent / of
    if root.is_symlink() or not root.is_dir():
        raise DataError(f"{where}: the view's root session {root} is missing or a symbolic link")
    if "view" in _read_metadata(root):
        raise DataError(f"{where}: the view's root {root} is itself a view; views do not chain")
    return root, start, stop


def write_view(root: str | Path, name: str, start: int, stop: int) -> Path:
    """Write the view ``name`` (a sibling folder of the session ``root``) of its steps
    ``start..stop``: a ``metadata.json`` that references the root's steps and frames, no copies."""
    root = Path(root)
    reader = SessionReader(root)
    if reader.view is not None:
        raise DataError(f"{root}: is a view; make views of the root session")
    if not 0 <= start < stop <= len(reader):
        raise DataError(f"{root}: view range {start}..{stop} outside its {len(reader)} steps")
    if Path(name).name != name or name in (".", ".."):
        raise DataError(f"view name {name!r}: expected a plain folder name")
    path = root.parent / name
    if path.exists() and "view" not in _read_metadata(path):
        raise DataError(f"{path}: exists and is not a view; not overwriting a recorded session")
    keep = ("format", "version", "robot_type", "action_space", "robot_config", "start_time")
    metadata = {k: reader.metadata[k] for k in keep if k in reader.metadata}
    metadata.update(
        view={"of": root.name, "start": start, "stop": stop},
        steps=stop - start,
        end_time=reader.metadata.get("end_time", reader.records[stop - 1]["t"]),
    )
    path.mkdir(exist_ok=True)
    tmp = path / "metadata.json.tmp"
    tmp.write_text(json.dumps(metadata, indent=1))
    tmp.replace(path / "metadata.json")
    return path


def _read_metadata(path: Path) -> dict[str, Any]:
    file = path / "metadata.json"
    if not file.is_file():
        raise DataError(f"{path}: not a session (metadata.json is missing)")
    try:
        metadata = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{file}: corrupt session metadata (not UTF-8: {e})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{file}: corrupt session metadata (invalid JSON: {e})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise DataError(f"{file}: not a sensorimotor session (expected format {FORMAT!r})")
    for key in ("robot_type", "action_space"):
        if key not in metadata:
            raise DataError(f"{file}: session metadata lacks {key!r}")
    if not isinstance(metadata["robot_type"], str):
        raise DataError(
            f"{file}: 'robot_type' must be a string, got {type(metadata['robot_type']).__name__}"
        )
    return metadata


_STEP_KEYS = {"t", "action", "frames", "obs"}


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
            _check_record(record)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as e:
            if number == len(lines):  # a torn final line from a crash: drop it
                break
            raise DataError(f"{file}: line {number} is corrupt ({e})") from None
        records.append(record)
    return records


def _check_record(record: Any) -> None:
    """Raise ValueError unless ``record`` has the step line's keys with the right types."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if not set(record) >= _STEP_KEYS:
        raise ValueError(f"missing keys {sorted(_STEP_KEYS - set(record))}")
    if isinstance(record["t"], bool) or not isinstance(record["t"], int | float):
        raise ValueError(f"'t' must be a number, got {record['t']!r}")
    if record["action"] is not None and not isinstance(record["action"], dict):
        raise ValueError(f"'action' must be an object or null, got {record['action']!r}")
    if not isinstance(record["obs"], dict):
        raise ValueError(f"'obs' must be an object, got {type(record['obs']).__name__}")
    if not isinstance(record["frames"], dict):
        raise ValueError(f"'frames' must be an object, got {type(record['frames']).__name__}")
    for key, ref in record["frames"].items():
        if isinstance(ref, str):
            continue
        if not (
            isinstance(ref, list)
            and len(ref) == 3
            and isinstance(ref[0], str)
            and all(type(v) is int and v >= 0 for v in ref[1:])
        ):
            raise ValueError(
                f"frame {key!r} must be a file name or [pack, offset, length] with "
                f"non-negative integers, got {ref!r}"
            )


def missing_steps(metadata: dict[str, Any], records: int) -> int:
    """Steps a closed session's metadata counts (``steps``) beyond the ``records`` read back."""
    expected = metadata.get("steps")
    if "end_time" not in metadata or type(expected) is not int:
        return 0
    return max(0, expected - records)


def session_status(metadata: dict[str, Any], records: int) -> str:
    """``complete``, ``truncated (N of M steps)`` or ``interrupted`` for a session's metadata."""
    if "end_time" not in metadata:
        return "interrupted"
    missing = missing_steps(metadata, records)
    if missing:
        return f"truncated ({records} of {records + missing} steps)"
    return "complete"


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


def find_session(
    name: str | Path, root: str | Path = DEFAULT_ROOT, allow_corrupt: bool = False
) -> Path:
    """Resolve a session: ``name`` or ``robot_type/name`` under ``root``, or an explicit path.

    Names are looked up only under ``root`` (never in the working directory, never as glob
    patterns). Anything else (an absolute path, ``./x``, ``../x``, deeper paths) must be a real
    session folder, recognised by its format marker, and not a symbolic link. ``allow_corrupt``
    accepts a folder found by name under ``root`` whose metadata cannot be read (to delete it).
    """
    root = Path(root)
    text = str(name)
    parts = Path(text).parts
    plain = not Path(text).is_absolute() and not text.startswith(".") and ".." not in parts
    if plain and len(parts) == 2 and (root / text).is_dir():
        return _real_session(root / text, allow_corrupt)
    if plain and len(parts) == 1:
        robot_dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        matches = [d / text for d in robot_dirs if (d / text).is_dir()]
        if len(matches) > 1:
            raise UserError(
                f"session name {text!r} is ambiguous: {[str(m) for m in matches]}; use robot_type/name"
            )
        if matches:
            return _real_session(matches[0], allow_corrupt)
        raise UserError(
            f"session {text!r} not found under {root}/<robot_type>/ "
            f"(to use a folder elsewhere, give its path, e.g. ./{text})"
        )
    path = Path(text)
    if not path.is_dir():
        raise UserError(f"session {text!r} not found (no folder {path} and no {root}/{text})")
    return _real_session(path)


def _real_session(path: Path, allow_corrupt: bool = False) -> Path:
    """``path`` if it is a session folder (format marker in metadata.json), not a symlink."""
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; give the session's real folder")
    try:
        _read_metadata(path)
    except DataError as e:
        if not allow_corrupt:
            raise UserError(f"{path} is not a readable session: {e}") from None
    return path


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
                steps = (
                    len(SessionReader(path))
                    if "view" in metadata
                    else sum(1 for line in (path / "steps.jsonl").open("rb") if line.strip())
                )
                status = "recording" if being_written(path) else session_status(metadata, steps)
                start = str(metadata.get("start_time", ""))
            except (DataError, OSError, ValueError):  # one bad session never hides the others
                steps, status, start = 0, "corrupt", ""
            infos.append(
                SessionInfo(path, robot_dir.name, path.name, start, steps, tree_size(path), status)
            )
    return sorted(infos, key=lambda s: (s.start_time, str(s.path)))


def delete_session(path: str | Path, root: str | Path | None = None) -> None:
    """Delete a session folder; refuses anything that is not a session, symlinks and live recordings.

    A folder is a session when its ``metadata.json`` carries the session format marker. A folder
    directly at ``root/<robot_type>/<name>`` whose metadata is corrupt (a crash, bit rot) is a
    session too when it holds a ``steps.jsonl``, so it can still be cleaned up.
    """
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"{path} is a symbolic link; not deleting it")
    if not path.is_dir():
        raise UserError(f"{path} is not a folder; not deleting it")
    try:
        _read_metadata(path)
    except DataError as e:
        inside = root is not None and path.resolve().parent.parent == Path(root).resolve()
        if not (inside and (path / "steps.jsonl").is_file()):
            raise UserError(f"{path} does not look like a session ({e}); not deleting it") from None
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

    def reset(self) -> None:
        """Back to the session's first step."""
        self.position = 0

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
