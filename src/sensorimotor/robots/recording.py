"""Recording sessions: every observation frame (lossless PNG) and every action, append-only.

A session lives in ``<root>/<robot_type>/<session>/``::

    metadata.json          robot type, action space, config, start time (end time, step count on close)
    steps.jsonl            one line per observation: time, the action taken after it, frames, extras
    frames/<key>.pngpack   the PNG frames of observation ``key``, appended one after another
    frames/<key>.npypack   other large arrays (e.g. float depth), as .npy records
    .writing               present (with the writer's pid) while the session is being recorded

Each step's line names the byte range of its frames in the pack (``[offset, length]``); each range is
a complete PNG (or .npy) file, so any frame can be read on its own. Packing instead of one file per
frame matters: creating a file costs ~1 ms on common filesystems, far more than encoding the frame.
``frame_storage="files"`` writes ``frames/<key>/000000.png`` files instead.

Crash safety: a step's frames are written before its line is appended, and a line is written with
one ``write`` call, so after ``kill -9`` the session reads back up to the last complete step.

Where frames are encoded (``RecordingRobot(writer=...)``): ``"process"`` (the default) hands
each step to a writer process through shared memory (:mod:`sensorimotor.robots.writer_process`):
the robot's step pays only a copy (nothing for frames the writer can draw again from the step's
values), and a ``kill -9`` of the robot's process loses at most the step in flight; ``"thread"``
encodes on a background thread of the robot's process; ``"sync"`` on the robot's own thread.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import queue
import shutil
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.core.fs import make_unique_dir, pid_alive, write_json_atomic
from sensorimotor.robots.interface import (
    Action,
    ActionSpace,
    Observation,
    Robot,
    action_space_to_json,
    jsonable,
)

if TYPE_CHECKING:
    from sensorimotor.robots.writer_process import ProcessSessionWriter

try:  # zlib-ng's deflate is several times faster than zlib's at level 1, with the same format
    from zlib_ng.zlib_ng import compress as _deflate
except ImportError:  # pragma: no cover - zlib-ng is a dependency; zlib is the fallback
    _deflate = zlib.compress

FORMAT = "sensorimotor-session"
FORMAT_VERSION = 1
WRITING_MARKER = ".writing"
_LARGE_ARRAY = 64  # arrays with more elements than this are stored as files, not JSON
_BATCH_STEPS = 16  # async writes: steps handed to the writer thread at once ...
_BATCH_SECONDS = 0.05  # ... or fewer, when this much time has passed since the batch started


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """Lossless PNG bytes of a uint8 ``(H, W)`` or ``(H, W, C)`` image (C in 1..4), filter-free and fast."""
    if image.dtype != np.uint8:
        raise ValueError(f"PNG frames must be uint8, got {image.dtype}")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = np.empty((height, width * channels + 1), np.uint8)
    raw[:, 0] = 0
    raw[:, 1:] = image.reshape(height, width * channels)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", _deflate(raw.data, level))
        + chunk(b"IEND", b"")
    )


def is_image(value: Any) -> bool:
    """Whether an observation entry is stored as a PNG frame."""
    return (
        isinstance(value, np.ndarray)
        and value.dtype == np.uint8
        and (value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 3, 4)))
    )


def start_session(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """Write the ``.writing`` marker (this process's pid) and ``metadata.json``; returns the metadata."""
    metadata = {"format": FORMAT, "version": FORMAT_VERSION, **metadata}
    (path / WRITING_MARKER).write_text(str(os.getpid()))
    write_json_atomic(path / "metadata.json", metadata)
    return metadata


def finish_session(path: Path, metadata: dict[str, Any], steps: int) -> None:
    """Record the end time and step count in ``metadata.json`` and drop the ``.writing`` marker."""
    metadata.update(end_time=dt.datetime.now().astimezone().isoformat(), steps=steps)
    write_json_atomic(path / "metadata.json", metadata)
    (path / WRITING_MARKER).unlink(missing_ok=True)


def new_session_dir(robot_dir: Path, name: str | None = None) -> Path:
    """Create a fresh session folder under ``robot_dir`` (never reusing an existing one)."""
    return make_unique_dir(robot_dir, name or dt.datetime.now().strftime("%Y%m%d-%H%M%S"))


class SessionWriter:
    """Writes one session's steps in order, on a background thread when ``async_writes``.

    ``owner=False`` writes only steps and frames: the process that started the session (see
    :mod:`sensorimotor.robots.writer_process`) writes the metadata and the ``.writing`` marker.
    """

    def __init__(
        self,
        path: Path,
        metadata: dict[str, Any],
        async_writes: bool = True,
        queue_size: int = 256,
        png_level: int = 1,
        on_bytes: Any = None,
        frame_storage: str = "pack",
        owner: bool = True,
    ) -> None:
        if frame_storage not in ("pack", "files"):
            raise UserError(f"frame_storage must be 'pack' or 'files', got {frame_storage!r}")
        self.path = path
        self.png_level = png_level
        self.frame_storage = frame_storage
        self._packs: dict[str, Any] = {}
        self.owner = owner
        self.metadata = start_session(path, metadata) if owner else metadata
        self.steps_written = 0
        self.bytes_written = 0
        self._on_bytes = on_bytes
        self._frame_dirs: set[str] = set()
        self._lines = (path / "steps.jsonl").open("a", buffering=1)
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._batch: list[tuple] = []
        self._batch_start = 0.0
        if async_writes:
            self._queue = queue.Queue(maxsize=max(1, queue_size // _BATCH_STEPS))
            self._thread = threading.Thread(
                target=self._drain, name=f"session-writer-{path.name}", daemon=True
            )
            self._thread.start()
        self._closed = False

    def write(
        self,
        observation: Observation,
        obs_time: float,
        action: Action | None,
        action_time: float | None,
    ) -> None:
        """Queue (or write) one step: an observation and the action taken after it (None at the end)."""
        if self._error is not None:
            raise RuntimeError(f"recording to {self.path} failed: {self._error}") from self._error
        item = (observation, obs_time, action, action_time)
        if self._queue is None:
            self._write_step(*item)
            return
        # Hand steps over in small batches: one queue round trip per step costs more than a fast
        # robot's whole step. A slow robot (over _BATCH_SECONDS per step) hands over every step.
        now = time.monotonic()
        if not self._batch:
            self._batch_start = now
        self._batch.append(item)
        if len(self._batch) >= _BATCH_STEPS or now - self._batch_start >= _BATCH_SECONDS:
            self._queue.put(self._batch)
            self._batch = []

    def close(self) -> None:
        """Write everything queued, finish the metadata and drop the ``.writing`` marker."""
        if self._closed:
            return
        self._closed = True
        if self._queue is not None and self._thread is not None:
            if self._batch:
                self._queue.put(self._batch)
                self._batch = []
            self._queue.put(None)
            self._thread.join()
        self._lines.close()
        for pack in self._packs.values():
            pack.close()
        if self.owner:
            finish_session(self.path, self.metadata, self.steps_written)
        if self._error is not None:
            raise RuntimeError(f"recording to {self.path} failed: {self._error}") from self._error

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            for item in batch:
                if self._error is None:
                    try:
                        self._write_step(*item)
                    except BaseException as e:  # noqa: BLE001 - reported to the main thread on its next call
                        self._error = e

    def _write_step(
        self,
        observation: Observation,
        obs_time: float,
        action: Action | None,
        action_time: float | None,
    ) -> None:
        index = self.steps_written
        files: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        written = 0
        for key, value in observation.items():
            if is_image(value):
                data, kind = encode_png(value, self.png_level), "png"
            elif isinstance(value, np.ndarray) and value.size > _LARGE_ARRAY:
                buffer = io.BytesIO()
                np.save(buffer, value, allow_pickle=False)
                data, kind = buffer.getvalue(), "npy"
            else:
                extras[key] = jsonable(value)
                continue
            files[key] = self._store(key, kind, index, data)
            written += len(data)
        record = {
            "i": index,
            "t": obs_time,
            "action": jsonable(action),
            "t_action": action_time,
            "frames": files,
            "obs": extras,
        }
        line = json.dumps(record, separators=(",", ":")) + "\n"
        self._lines.write(line)
        written += len(line)
        self.steps_written += 1
        self.bytes_written += written
        if self._on_bytes is not None:
            self._on_bytes(written)

    def _store(self, key: str, kind: str, index: int, data: bytes) -> str | list:
        """Write one encoded frame; returns its reference for the step line."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in key)
        if self.frame_storage == "files":
            if safe not in self._frame_dirs:
                (self.path / "frames" / safe).mkdir(parents=True, exist_ok=True)
                self._frame_dirs.add(safe)
            relative = f"frames/{safe}/{index:06d}.{kind}"
            (self.path / relative).write_bytes(data)
            return relative
        relative = f"frames/{safe}.{kind}pack"
        pack = self._packs.get(relative)
        if pack is None:
            (self.path / "frames").mkdir(exist_ok=True)
            pack = self._packs[relative] = (self.path / relative).open("ab")
        offset = pack.tell()
        pack.write(data)
        pack.flush()
        return [relative, offset, len(data)]


class DiskBudget:
    """Keeps a robot type's sessions under ``budget_gb`` by deleting the oldest finished ones.

    The session being written (and any other session still marked as being written by a live
    process) is never deleted.
    """

    def __init__(
        self, robot_dir: Path, budget_gb: float, current: Path, recount_every: int = 1000
    ) -> None:
        if budget_gb <= 0:
            raise UserError(f"disk_budget_gb must be positive, got {budget_gb}")
        self.robot_dir = robot_dir
        self.budget = int(budget_gb * 1e9)
        self.current = current
        self.recount_every = recount_every
        self._lock = threading.Lock()
        self._current_bytes = 0
        self._calls = 0
        self._warned = False
        self._others: dict[Path, int] = {}
        self.deleted: list[Path] = []
        self.recount()
        self.enforce()

    def recount(self) -> None:
        """Measure the other sessions on disk again."""
        self._others = {
            p: tree_size(p)
            for p in self.robot_dir.iterdir()
            if p.is_dir() and p != self.current and (p / "metadata.json").exists()
        }

    def add(self, nbytes: int) -> None:
        """Count bytes written to the current session; delete old sessions when over budget."""
        with self._lock:
            self._current_bytes += nbytes
            self._calls += 1
            if self._calls % self.recount_every == 0:
                self.recount()
            if self._current_bytes + sum(self._others.values()) > self.budget:
                self.enforce()

    def enforce(self) -> None:
        """Delete the oldest finished sessions until the total fits the budget."""
        for path in sorted(self._others, key=_session_start):
            if self._current_bytes + sum(self._others.values()) <= self.budget:
                return
            if being_written(path):
                continue
            shutil.rmtree(path, ignore_errors=True)
            self._others.pop(path)
            self.deleted.append(path)
        if self._current_bytes + sum(self._others.values()) > self.budget and not self._warned:
            self._warned = True
            warnings.warn(
                f"the session being recorded ({self.current}) exceeds the disk budget of {self.budget / 1e9:g} GB; "
                "it is kept, older sessions have been deleted",
                stacklevel=2,
            )


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _session_start(path: Path) -> tuple[str, float]:
    try:
        start = json.loads((path / "metadata.json").read_text()).get("start_time", "")
    except (OSError, json.JSONDecodeError):
        start = ""
    return (start, path.stat().st_mtime)


def being_written(path: Path) -> bool:
    """Whether a live process is recording the session at ``path``."""
    try:
        pid = int((path / WRITING_MARKER).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid_alive(pid)


WRITERS = ("process", "thread", "sync")


class RecordingRobot(Robot):
    """Wraps a robot and records every observation it returns and every action it executes.

    ``writer`` says where frames are encoded: ``"process"`` (default; off the step's path, see
    :mod:`sensorimotor.robots.writer_process`), ``"thread"`` or ``"sync"``; ``async_writes=False``
    is the older spelling of ``writer="sync"``. With the writer process and ``redraw_frames``, the
    frames a robot can draw from small observation values (its optional ``frame_recipes()``
    method) are drawn again by the writer instead of being copied to it; same session bytes.
    """

    def __init__(
        self,
        robot: Robot,
        root: str | Path = "saved/sessions",
        session_name: str | None = None,
        disk_budget_gb: float | None = None,
        config: dict[str, Any] | None = None,
        async_writes: bool = True,
        png_level: int = 1,
        frame_storage: str = "pack",
        writer: str | None = None,
        redraw_frames: bool = True,
    ) -> None:
        writer = writer or ("process" if async_writes else "sync")
        if writer not in WRITERS:
            raise UserError(f"recording writer must be one of {list(WRITERS)}, got {writer!r}")
        if frame_storage not in ("pack", "files"):
            raise UserError(f"frame_storage must be 'pack' or 'files', got {frame_storage!r}")
        self.robot = robot
        self.robot_type = robot.robot_type
        robot_dir = Path(root) / robot.robot_type
        if disk_budget_gb is not None and not disk_budget_gb > 0:  # 0 must not mean "no budget"
            raise UserError(f"disk_budget_gb must be positive (or None), got {disk_budget_gb}")
        self.session_path = new_session_dir(robot_dir, session_name)
        self.budget = (
            DiskBudget(robot_dir, disk_budget_gb, self.session_path)
            if disk_budget_gb is not None
            else None
        )
        metadata = {
            "robot_type": robot.robot_type,
            "action_space": action_space_to_json(robot.action_space),
            "robot_config": robot.config_dict(),
            "config": config or {},
            "start_time": dt.datetime.now().astimezone().isoformat(),
        }
        on_bytes = self.budget.add if self.budget else None
        self.writer: SessionWriter | ProcessSessionWriter
        if writer == "process":
            from sensorimotor.robots.writer_process import ProcessSessionWriter

            self.writer = ProcessSessionWriter(
                self.session_path,
                metadata,
                png_level=png_level,
                on_bytes=on_bytes,
                frame_storage=frame_storage,
                recipes=robot.frame_recipes()
                if redraw_frames and hasattr(robot, "frame_recipes")
                else None,
            )
        else:
            self.writer = SessionWriter(
                self.session_path,
                metadata,
                writer == "thread",
                png_level=png_level,
                on_bytes=on_bytes,
                frame_storage=frame_storage,
            )
        self._pending: tuple[Observation, float] | None = None

    @property
    def action_space(self) -> ActionSpace:
        return self.robot.action_space

    def get_observation(self) -> Observation:
        self._flush_pending()
        observation = self.robot.get_observation()
        self._pending = (observation, time.time())
        return observation

    def execute_action(self, action: Action) -> None:
        self.robot.execute_action(action)
        if self._pending is not None:
            observation, obs_time = self._pending
            self._pending = None
            self.writer.write(observation, obs_time, action, time.time())

    def config_dict(self) -> dict[str, Any]:
        return self.robot.config_dict()

    def cleanup(self) -> None:
        try:
            self._flush_pending()
            self.writer.close()
        finally:
            self.robot.cleanup()

    def _flush_pending(self) -> None:
        if self._pending is not None:
            observation, obs_time = self._pending
            self._pending = None
            self.writer.write(observation, obs_time, None, None)
