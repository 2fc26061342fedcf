"""The loop kit every training driver shares.

A driver is ``train(config, *, resume=None) -> RunResult``; it composes:

- :class:`Interval`: "every N steps" (optionally at step 0, always at the last step);
- :func:`progress`: the tqdm bar;
- :class:`MetricsWindow`: per-key means over the steps since the last log (or a rolling window),
  plus rates (``<name>_per_s``);
- :class:`StopFlag`: Ctrl-C stops at the end of the current step (and the driver saves);
- :class:`NonFinitePolicy`: NaN/Inf in a step's metrics raises an error naming the step, after
  saving the batch that caused it to the run directory;
- :class:`RunCheckpoints`: save / restore the latest checkpoint of a run directory;
- :class:`RunResult`: what a run leaves behind.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.checkpoint import CheckpointInfo, CheckpointManager
from sensorimotor.core.numerics import NonFiniteError, check_finite, non_finite_paths
from sensorimotor.core.rundir import RunDir

# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """ "Every ``every`` steps": due at multiples of ``every``, at ``total`` (the last step) and,
    with ``at_start``, at step 0. ``every <= 0`` is never due (not even at the last step)."""

    every: int
    total: int | None = None
    at_start: bool = False

    def due(self, step: int) -> bool:
        """Whether something scheduled on this interval happens after ``step`` steps."""
        if self.every <= 0:
            return False
        if step == 0:
            return self.at_start
        return step % self.every == 0 or step == self.total

    def next_due(self, step: int) -> int:
        """The first step after ``step`` at which this interval is due (capped at ``total``);
        ``total`` (or ``step + 1`` without one) when it is never due."""
        if self.every <= 0:
            return self.total if self.total is not None else step + 1
        nxt = (step // self.every + 1) * self.every
        return min(nxt, self.total) if self.total is not None and self.total > step else nxt


def steps_to_boundary(step: int, intervals: Iterable[Interval], total: int) -> int:
    """How many steps to run from ``step`` until the next step where any interval is due (or
    ``total``): the size of the next chunk of fused updates."""
    ends = [iv.next_due(step) for iv in intervals if iv.every > 0] + [total]
    return max(min(ends) - step, 0)


# --------------------------------------------------------------------------------------------
# Progress and metrics
# --------------------------------------------------------------------------------------------


def progress(total: int, *, desc: str, initial: int = 0, enabled: bool = True) -> Any:
    """A tqdm progress bar over ``total`` steps (a silent one when ``enabled`` is false)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=min(initial, total), desc=desc, disable=not enabled)


class MetricsWindow:
    """Scalar metrics accumulated between logs, reduced to means.

    ``size=None`` keeps every value since the last :meth:`flush`; ``size=N`` keeps the last ``N``
    values per key (a rolling mean that :meth:`flush` does not clear). :meth:`count` adds events
    (environment steps, updates) that :meth:`flush` reports as ``<name>_per_s`` since the last
    flush."""

    def __init__(self, size: int | None = None) -> None:
        if size is not None and size < 1:
            raise ValueError(f"MetricsWindow size must be >= 1, got {size}")
        self.size = size
        self._values: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}
        self._since = time.perf_counter()

    def add(self, metrics: Mapping[str, Any]) -> None:
        """Add one step's scalar metrics (host values: call ``jax.device_get`` first)."""
        for key, value in metrics.items():
            self._values.setdefault(key, deque(maxlen=self.size)).append(float(value))

    def add_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add several steps' metrics."""
        for record in records:
            self.add(record)

    def count(self, name: str, n: int = 1) -> None:
        """Count ``n`` events of ``name`` towards the ``<name>_per_s`` rate."""
        self._counts[name] = self._counts.get(name, 0) + n

    def means(self) -> dict[str, float]:
        """The mean of every key with values."""
        return {k: float(np.mean(v)) for k, v in self._values.items() if v}

    def rates(self) -> dict[str, float]:
        """Events per second of every counted name since the last flush."""
        dt = max(time.perf_counter() - self._since, 1e-9)
        return {f"{k}_per_s": n / dt for k, n in self._counts.items()}

    def flush(self) -> dict[str, float]:
        """Means and rates; then starts the next window (a rolling window keeps its values)."""
        out = {**self.means(), **self.rates()}
        if self.size is None:
            self._values.clear()
        self._counts = dict.fromkeys(self._counts, 0)
        self._since = time.perf_counter()
        return out


# --------------------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------------------


class StopFlag:
    """Ctrl-C sets a flag so the loop stops at the end of the current iteration (and saves);
    a second Ctrl-C interrupts at once. A no-op outside the main thread."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True
        print("\nstopping after this step (Ctrl-C again to interrupt at once)", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


# --------------------------------------------------------------------------------------------
# NaN / Inf
# --------------------------------------------------------------------------------------------


class NonFinitePolicy:
    """Detects NaN/Inf in a step's metrics; saves the batch that caused it; raises.

    The batch goes to ``<directory>/nonfinite_batch_step_<step>.h5`` (one dataset per key) so the
    failure can be reproduced; the :class:`~sensorimotor.core.numerics.NonFiniteError` names the
    step, the offending keys and that file."""

    def __init__(self, directory: str | Path, context: str = "training metrics") -> None:
        self.directory = Path(directory)
        self.context = context

    def check(self, metrics: Any, *, step: int, batch: Mapping[str, Any] | None = None) -> None:
        """Raise when any leaf of ``metrics`` is NaN/Inf (host values)."""
        if not non_finite_paths(metrics):
            return
        saved = self.save_batch(step, batch) if batch is not None else None
        try:
            check_finite(metrics, step=step, context=self.context)
        except NonFiniteError as e:
            if saved is None:
                raise
            raise NonFiniteError(f"{e}; the batch is saved in {saved}", e.step, e.paths) from None

    def save_batch(self, step: int, batch: Mapping[str, Any]) -> Path:
        """Write ``batch`` (arrays by key) to an HDF5 file in the directory; returns its path."""
        import h5py

        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"nonfinite_batch_step_{step}.h5"
        with h5py.File(path, "w") as f:
            for key, value in batch.items():
                f.create_dataset(str(key), data=np.asarray(value))
        return path


# --------------------------------------------------------------------------------------------
# Checkpoints of a run directory
# --------------------------------------------------------------------------------------------


class RunCheckpoints:
    """The checkpoints of one run directory (``<run>/checkpoints``): save / restore the latest."""

    def __init__(self, run: RunDir, keep: int = 2) -> None:
        self.run = run
        self.manager = CheckpointManager(run.checkpoints_dir.resolve(), keep=keep)

    def save(
        self, step: int, tree: Any, metadata: Mapping[str, Any] | None = None
    ) -> CheckpointInfo:
        """Check ``tree`` is finite (a diverged model must not replace the last good one), then
        save it as checkpoint ``step``."""
        check_finite(tree, step=step, context="parameters before checkpointing")
        return self.manager.save(step, tree, dict(metadata or {}))

    def latest_step(self) -> int | None:
        """The step of the newest intact checkpoint, or ``None``."""
        info = self.manager.latest()
        return None if info is None else info.step

    def restore_latest(self, target: Any = None) -> tuple[Any, dict[str, Any]] | None:
        """``(tree, metadata)`` of the newest checkpoint that restores, or ``None`` when the run
        has no checkpoint yet."""
        if self.manager.latest() is None:
            return None
        return self.manager.restore(target=target)


# --------------------------------------------------------------------------------------------
# The result of a run
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run leaves behind.

    ``steps``: the driver's main counter when it stopped (environment steps, iterations or
    updates); ``stopped_by``: ``completed`` or why it stopped early (``ctrl-c``); ``metrics``:
    the final evaluation; ``counters``: other counts the driver keeps (updates, episodes, ...)."""

    run_dir: Path
    steps: int
    seconds: float
    stopped_by: str = "completed"
    metrics: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
