"""The session writer in its own process, fed through a shared-memory ring: recording off the step's path.

The robot's process copies each step (its arrays and a small JSON header) into a byte ring in shared
memory and publishes it by advancing the ring's head counter; nothing else happens on the step's
path (no encoding, no system call, no pickling). A child process (``python -m
sensorimotor.robots.writer_process``, on the other core) reads the ring in order, encodes the frames
(PNG / .npy) and appends them with :class:`~sensorimotor.robots.recording.SessionWriter`, so the
session format is exactly the in-process writer's.

Frames a robot can draw again from small observation values (its ``frame_recipes()``, e.g. the
toroidal dot's image from ``dot_x``/``dot_y``) are not copied at all: the writer draws them from
the step's values, and the robot's process checks every :data:`CHECK_EVERY` steps (the first
included) that the recipe still gives the robot's frame byte for byte, copying it otherwise.

Crash safety: a step is in the ring once ``write`` returns. If the robot's process dies (even by
``kill -9``), the writer notices its parent is gone, writes every step still in the ring and exits,
so at most the step in flight is lost. The writer holds an exclusive ``flock`` on
``<session>/.writer.lock`` while it runs: :func:`wait_for_writer` waits for it to finish.

Memory ordering: the head counter is written after the step's bytes, and read before them; x86
keeps stores in order (TSO); on weaker-ordered CPUs the interpreter's own atomics between the two
stores act as barriers in practice.
"""

from __future__ import annotations

import fcntl
import functools
import importlib
import json
import mmap
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.robots.interface import PLAIN_JSON_TYPES, Action, Observation, jsonable
from sensorimotor.robots.recording import (
    _LARGE_ARRAY,
    SessionWriter,
    finish_session,
    is_image,
    start_session,
)

LOCK_FILE = ".writer.lock"
_CONTROL = 4096  # bytes before the data region: counters, then the writer's error message
_HEAD, _TAIL, _CLOSING, _ERROR, _BYTES, _STEPS, _READY = range(7)
_ERROR_AT, _ERROR_LEN = 512, 2048
_WRAP = -1  # a record length meaning "the rest of the ring is empty: continue at its start"
_ALIGN = 64


#: How the writer can draw a frame again from the step's small observation values instead of
#: having it copied through the ring: ``("package.module:function", kwargs)``, where
#: ``function(observation, **kwargs)`` gets the step's JSON-able observation values and returns
#: the frame. A robot offers recipes with a ``frame_recipes()`` method (see
#: :class:`~sensorimotor.robots.recording.RecordingRobot`).
FrameRecipe = tuple[str, dict[str, Any]]
#: Steps between the robot process's checks that a recipe still draws the robot's own frame.
CHECK_EVERY = 1000


@functools.cache
def _recipe_function(name: str) -> Callable[..., np.ndarray]:
    module, _, function = name.partition(":")
    if not module or not function:
        raise ValueError(f"a frame recipe names 'package.module:function', got {name!r}")
    return getattr(importlib.import_module(module), function)


def redraw(recipe: FrameRecipe, values: dict[str, Any]) -> np.ndarray:
    """The frame ``recipe`` draws from a step's JSON-able observation ``values``."""
    name, kwargs = recipe
    return np.asarray(_recipe_function(name)(values, **kwargs))


#: ``json.dumps(..., separators=(",", ":"))`` without building an encoder on every call.
_to_json = json.JSONEncoder(separators=(",", ":")).encode


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


class Ring:
    """A single-producer, single-consumer byte ring over one shared memory map."""

    def __init__(self, fd: int, capacity: int, create: bool) -> None:
        if create:
            os.ftruncate(fd, _CONTROL + capacity)
        # Pages mapped up front: first-touch page faults would otherwise cost more than the copy.
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        self.map = mmap.mmap(fd, _CONTROL + capacity, flags=flags)
        self.capacity = capacity
        # A memoryview, not a numpy array: reading or bumping a counter is on every step's path,
        # and indexing a memoryview costs a fraction of a numpy scalar's round trip.
        self.counters = memoryview(self.map)[:64].cast("q")
        self.data = np.frombuffer(self.map, np.uint8, offset=_CONTROL)

    def free(self) -> int:
        return self.capacity - int(self.counters[_HEAD] - self.counters[_TAIL])

    def error(self) -> str | None:
        if not self.counters[_ERROR]:
            return None
        raw = bytes(self.map[_ERROR_AT : _ERROR_AT + _ERROR_LEN])
        return raw.rstrip(b"\0").decode("utf-8", "replace")

    def set_error(self, message: str) -> None:
        raw = message.encode("utf-8", "replace")[: _ERROR_LEN - 1]
        self.map[_ERROR_AT : _ERROR_AT + len(raw)] = raw
        self.counters[_ERROR] = 1


def split_observation(
    observation: Observation, redrawn: frozenset[str] = frozenset()
) -> tuple[tuple, dict[str, Any], list[np.ndarray]]:
    """The observation's layout (keys in order; each copied array's key, dtype and shape; each
    redrawn array's ``(key,)``), its JSON-able extras and the arrays to copy (images and large
    arrays, except those in ``redrawn``: the writer draws them again from the extras)."""
    layout, extras, arrays = [], {}, []
    for key, value in observation.items():
        if key in redrawn:
            layout.append((key,))
        elif isinstance(value, np.ndarray) and (is_image(value) or value.size > _LARGE_ARRAY):
            if value.dtype.hasobject:
                raise ValueError(f"observation {key!r} has dtype object, which cannot be recorded")
            layout.append((key, value.dtype.str, value.shape))
            arrays.append(value)
        else:
            layout.append(key)
            extras[key] = jsonable(value)
    return tuple(layout), extras, arrays


def _plain_action(action: Action | None) -> Any:
    """``jsonable(action)``, without its walk for the usual flat dict of plain values."""
    if type(action) is dict and all(
        type(k) is str and type(v) in PLAIN_JSON_TYPES for k, v in action.items()
    ):
        return action
    return jsonable(action)


def encode_layout(
    layout: tuple, recipes: dict[str, FrameRecipe] | None = None
) -> tuple[bytes, list[int], int]:
    """The layout's JSON (keys, ``[key, dtype, shape, offset]`` per copied array and the recipe
    of each redrawn one), the arrays' offsets in the record's body and the body's size."""
    keys, arrays, offsets, size, recipes_used = [], [], [], 0, {}
    for entry in layout:
        if isinstance(entry, str):
            keys.append(entry)
            continue
        if len(entry) == 1:
            keys.append(entry[0])
            recipes_used[entry[0]] = list((recipes or {})[entry[0]])
            continue
        key, dtype, shape = entry
        keys.append(key)
        arrays.append([key, dtype, list(shape), size])
        offsets.append(size)
        size += _aligned(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    text = json.dumps(
        {"keys": keys, "arrays": arrays, "redraw": recipes_used}, separators=(",", ":")
    ).encode()
    return text, offsets, size


class ProcessSessionWriter:
    """The robot's side: ``write`` copies a step into the ring; a child process writes it to disk.

    Same interface as :class:`~sensorimotor.robots.recording.SessionWriter` (``write``, ``close``,
    ``steps_written``, ``bytes_written``); the parent writes ``metadata.json`` and the ``.writing``
    marker, the child the steps and frames.
    """

    def __init__(
        self,
        path: Path,
        metadata: dict[str, Any],
        ring_mb: float = 16,
        png_level: int = 1,
        on_bytes: Any = None,
        frame_storage: str = "pack",
        recipes: dict[str, FrameRecipe] | None = None,
    ) -> None:
        self.path = path
        self._recipes = {key: (str(name), dict(kw)) for key, (name, kw) in (recipes or {}).items()}
        self._redrawn = frozenset(self._recipes)
        self._steps_sent = 0
        self.metadata = start_session(path, metadata)
        (path / "steps.jsonl").touch()  # a readable (empty) session before the writer starts
        self._options = {"png_level": png_level, "frame_storage": frame_storage}
        self._capacity = _aligned(int(ring_mb * 2**20))
        self._on_bytes = on_bytes
        self._reported = 0
        self._layout: tuple | None = None
        self._layout_json: tuple[bytes, list[int], int] = (b"", [], 0)
        self._ring: Ring | None = None
        self._proc: subprocess.Popen | None = None
        self._closed = False
        self.steps_written = 0
        self.bytes_written = 0
        self._start()  # now, so its start-up overlaps the robot's own
        # A writer dropped without close() still lets its process exit (the session stays
        # "interrupted", which is what it is).
        assert self._ring is not None
        weakref.finalize(self, _request_close, self._ring.counters)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the writer process has started (e.g. before timing); False on timeout."""
        assert self._ring is not None
        deadline = time.monotonic() + timeout
        while not self._ring.counters[_READY]:
            if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                return False
            time.sleep(1e-3)
        return True

    @property
    def pid(self) -> int | None:
        """The writer process's pid."""
        return self._proc.pid if self._proc is not None else None

    def write(
        self,
        observation: Observation,
        obs_time: float,
        action: Action | None,
        action_time: float | None,
    ) -> None:
        """Copy one step into the ring (waits only when the ring is full)."""
        ring = self._ring
        assert ring is not None
        if ring.counters[_ERROR]:
            raise RuntimeError(f"recording to {self.path} failed: {ring.error()}")
        if self._redrawn and self._steps_sent % CHECK_EVERY == 0:
            self._check_recipes(observation)
        self._steps_sent += 1
        layout, extras, arrays = split_observation(observation, self._redrawn)
        if layout != self._layout:  # the layout's JSON is made once, not every step
            self._layout, self._layout_json = layout, encode_layout(layout, self._recipes)
        layout_text, offsets, size = self._layout_json
        step = (obs_time, _plain_action(action), action_time, extras)
        text = layout_text + b"\n" + _to_json(step).encode()
        body = _aligned(16 + len(text))
        length = body + size
        start = self._reserve(ring, length)
        struct.pack_into(f"=qq{len(text)}s", ring.map, _CONTROL + start, length, len(text), text)
        for offset, array in zip(offsets, arrays, strict=True):
            at = start + body + offset
            target = ring.data[at : at + array.nbytes].view(array.dtype).reshape(array.shape)
            np.copyto(target, array)
        ring.counters[_HEAD] += length  # publishes the step
        self._report_bytes(ring)

    def _check_recipes(self, observation: Observation) -> None:
        """Redraw this step's frames here too; a recipe that does not give the robot's own frame
        (byte for byte) is dropped, with a warning, and that frame is copied from then on."""
        _, extras, _ = split_observation(observation, self._redrawn)
        values = json.loads(json.dumps(extras))  # exactly what the writer process will see
        for key in sorted(self._redrawn & observation.keys()):
            frame = observation[key]
            try:
                if self._recipes[key][0].startswith("__main__:"):  # another module in the writer
                    raise ValueError("a recipe in __main__ cannot be imported by the writer")
                drawn = redraw(self._recipes[key], values)
                same = drawn.dtype == frame.dtype and np.array_equal(drawn, frame)
            except Exception as e:  # noqa: BLE001 - a broken recipe only costs its shortcut
                same, drawn = False, e
            if not same:
                self._redrawn = self._redrawn - {key}
                warnings.warn(
                    f"recording to {self.path}: the frame recipe for {key!r} "
                    f"({self._recipes[key][0]}) does not reproduce the robot's frame at step "
                    f"{self._steps_sent} ({drawn if isinstance(drawn, Exception) else 'differs'}); "
                    "copying that frame from now on",
                    stacklevel=4,
                )

    def close(self) -> None:
        """Let the writer drain the ring and exit, then finish the metadata."""
        if self._closed:
            return
        self._closed = True
        error = None
        if self._ring is not None and self._proc is not None:
            self._ring.counters[_CLOSING] = 1  # the writer drains the ring, then exits
            code = self._proc.wait()
            error = self._ring.error() or (
                f"the writer process exited with code {code}" if code else None
            )
            self.steps_written = int(self._ring.counters[_STEPS])
            self._report_bytes(self._ring)
        finish_session(self.path, self.metadata, self.steps_written)
        if error:
            raise RuntimeError(f"recording to {self.path} failed: {error}")

    def _start(self) -> Ring:
        fd = _shared_fd()
        # Locked here and handed over, so the lock is held from before the writer even starts.
        lock = os.open(self.path / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._ring = Ring(fd, self._capacity, create=True)
            options = json.dumps(self._options)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(fd), str(self._capacity), str(self.path)]
                + [options, str(os.getpid()), str(lock)],
                pass_fds=(fd, lock),
                start_new_session=True,  # a terminal's Ctrl-C must not stop it before it drained
            )
        finally:
            os.close(fd)
            os.close(lock)
        return self._ring

    def _reserve(self, ring: Ring, length: int) -> int:
        """Wait for ``length`` free bytes that do not wrap; returns their offset in the ring."""
        if length > ring.capacity // 2:
            raise ValueError(
                f"one step needs {length / 2**20:.1f} MiB, over half the recording ring "
                f"({ring.capacity / 2**20:.0f} MiB); raise ring_mb"
            )
        head = int(ring.counters[_HEAD])
        position = head % ring.capacity
        if position + length > ring.capacity:  # skip the ring's tail end
            self._wait_free(ring, ring.capacity - position)
            ring.data[position : position + 8].view(np.int64)[0] = _WRAP
            ring.counters[_HEAD] += ring.capacity - position
            position = 0
        self._wait_free(ring, length)
        return position

    def _wait_free(self, ring: Ring, length: int) -> None:
        while ring.free() < length:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"recording to {self.path} failed: the writer process exited with code "
                    f"{self._proc.returncode} ({ring.error() or 'no message'})"
                )
            time.sleep(1e-4)

    def _report_bytes(self, ring: Ring) -> None:
        written = int(ring.counters[_BYTES])
        self.bytes_written = written
        if self._on_bytes is not None and written > self._reported:
            self._on_bytes(written - self._reported)
            self._reported = written


def _request_close(counters: memoryview) -> None:
    counters[_CLOSING] = 1


def _shared_fd() -> int:
    """A file descriptor of anonymous shared memory (memfd on Linux, an unlinked temp file elsewhere)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("sensorimotor-recording", 0)
    with tempfile.TemporaryFile() as handle:
        return os.dup(handle.fileno())


def wait_for_writer(path: str | Path, timeout: float = 60.0) -> bool:
    """Wait until no writer process holds the session's lock; False on timeout."""
    lock = Path(path) / LOCK_FILE
    if not lock.exists():
        return True
    deadline = time.monotonic() + timeout
    with lock.open("rb") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)


def _read_step(ring: Ring, position: int) -> tuple[int, tuple]:
    """The record at ``position``: its length and the ``SessionWriter._write_step`` arguments."""
    length, text_length = (int(v) for v in ring.data[position : position + 16].view(np.int64))
    layout_text, step_text = bytes(ring.data[position + 16 : position + 16 + text_length]).split(
        b"\n", 1
    )
    layout = json.loads(layout_text)
    obs_time, action, action_time, extras = json.loads(step_text)
    body = position + _aligned(16 + text_length)
    arrays = {}
    for key, dtype, shape, offset in layout["arrays"]:
        count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        raw = ring.data[body + offset : body + offset + count]
        arrays[key] = raw.view(np.dtype(dtype)).reshape(shape)
    for key, recipe in layout.get("redraw", {}).items():
        arrays[key] = redraw(recipe, extras)
    observation = {k: arrays[k] if k in arrays else extras[k] for k in layout["keys"]}
    return length, (observation, obs_time, action, action_time)


def _serve(ring: Ring, writer: SessionWriter, parent: int) -> None:
    """Write every published step in order until the parent closes the session or is gone."""
    stop = {"term": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(term=True))
    idle = 0.0
    while True:
        head, tail = int(ring.counters[_HEAD]), int(ring.counters[_TAIL])
        if head == tail:
            ending = ring.counters[_CLOSING] or stop["term"] or os.getppid() != parent
            if ending and int(ring.counters[_HEAD]) == tail:  # nothing published meanwhile
                return
            # Idle: back off from 1 to 20 ms (the ring absorbs the wait; an idle writer should
            # not wake a thousand times a second on a shared machine).
            idle = 0.0 if ending else min(0.02, max(1e-3, idle * 1.5))
            time.sleep(idle)
            continue
        idle = 0.0
        position = tail % ring.capacity
        marker = ring.data[position : position + 8].view(np.int64)[0]
        if ring.capacity - position < 16 or marker == _WRAP:
            ring.counters[_TAIL] = tail + ring.capacity - position
            continue
        length = int(marker)
        if not ring.counters[_ERROR]:
            try:  # a frame recipe that fails here is reported like a failed write
                writer._write_step(*_read_step(ring, position)[1])
            except BaseException as e:  # noqa: BLE001 - reported to the robot's process
                ring.set_error(f"{type(e).__name__}: {e}")
            ring.counters[_BYTES] = writer.bytes_written
            ring.counters[_STEPS] = writer.steps_written
        ring.counters[_TAIL] = tail + length


def main(argv: list[str]) -> None:
    """Child entry: ``fd capacity session_path options_json parent_pid lock_fd`` (the lock is held)."""
    fd, capacity, path, options, parent, lock = argv
    ring = Ring(int(fd), int(capacity), create=False)
    writer = SessionWriter(Path(path), {}, async_writes=False, owner=False, **json.loads(options))
    ring.counters[_READY] = 1
    try:
        _serve(ring, writer, int(parent))
    finally:
        writer.close()
        ring.counters[_STEPS] = writer.steps_written
        os.close(int(lock))  # releases the lock: the session is written


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main(sys.argv[1:])
