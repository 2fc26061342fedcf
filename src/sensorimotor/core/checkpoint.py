"""Checkpoints: an orbax pytree + JSON metadata per step, written atomically.

Layout of a checkpoint directory::

    checkpoints/
      step_00000100/            a finished checkpoint
        state/                  the orbax pytree (params, optimiser state, stats, ...)
        metadata.json           step, time, and the caller's metadata (config, metrics, ...)
      .tmp-step_00000200-...    a save in progress (or killed): never returned by latest()

A save is written under a temporary name and renamed into place only when complete, so a
process killed mid-save leaves the previous good checkpoint as the latest. The ``keep`` newest
checkpoints are kept. No pickle: orbax stores arrays and scalars, metadata is JSON.

Bit rot is caught: ``metadata.json`` holds the SHA-256 of every file under ``state/``; restore
verifies them before reading, then checks that every restored float is finite, and falls back to
the previous checkpoint (with a warning naming the file) when either check fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.core.fs import pid_alive

_STEP_DIR = re.compile(r"^step_(\d+)$")
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class CheckpointInfo:
    """A finished checkpoint on disk."""

    step: int
    path: Path
    metadata: dict[str, Any]


class CheckpointManager:
    """Save, find and restore the checkpoints of one run."""

    def __init__(self, directory: str | Path, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.directory = Path(directory).absolute()  # orbax refuses relative paths
        self.keep = keep
        self._reported: set[Path] = set()  # damaged checkpoints already warned about

    def save(self, step: int, tree: Any, metadata: dict[str, Any] | None = None) -> CheckpointInfo:
        """Write ``tree`` (a pytree of arrays/scalars/strings) and ``metadata`` as checkpoint ``step``."""
        import orbax.checkpoint as ocp

        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"step_{step:08d}"
        tmp = self.directory / f"{_TMP_PREFIX}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            ocp.PyTreeCheckpointer().save(tmp / "state", _to_host(tree))
            meta = {
                "step": int(step),
                "time": time.time(),
                **to_jsonable(metadata or {}),
                CHECKSUMS_KEY: {"algorithm": "sha256", "files": state_checksums(tmp / "state")},
            }
            with (tmp / "metadata.json").open("w") as f:
                json.dump(meta, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            if final.exists():  # re-saving a step: swap the old one out first
                old = self.directory / f"{_TMP_PREFIX}old-{final.name}-{uuid.uuid4().hex[:8]}"
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
            _fsync_dir(self.directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return CheckpointInfo(step, final, meta)

    def checkpoints(self) -> list[CheckpointInfo]:
        """All intact checkpoints, oldest first."""
        found = []
        if not self.directory.is_dir():
            return found
        for path in self.directory.iterdir():
            match = _STEP_DIR.match(path.name)
            if not match:
                continue
            metadata = _read_metadata(path)
            if metadata is not None and (path / "state").is_dir():
                found.append(CheckpointInfo(int(match.group(1)), path, metadata))
            elif path not in self._reported:
                self._reported.add(path)
                missing = "state/" if metadata is not None else "a readable metadata.json"
                warnings.warn(
                    f"checkpoint {path} lacks {missing}; it is skipped (an older one is used)",
                    stacklevel=2,
                )
        return sorted(found, key=lambda c: c.step)

    def latest(self) -> CheckpointInfo | None:
        """The newest intact checkpoint, or ``None`` when there is none."""
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def restore(self, step: int | None = None, target: Any = None) -> tuple[Any, dict[str, Any]]:
        """The tree and metadata of checkpoint ``step`` (default: the newest that restores).

        With ``target`` (a pytree of the same structure, e.g. a fresh optimiser state) the result has
        the target's structure and types; without it, arrays come back as NumPy arrays.
        """
        checkpoints = self.checkpoints()
        if step is not None:
            checkpoints = [c for c in checkpoints if c.step == step]
            if not checkpoints:
                raise DataError(f"{self.directory}: no intact checkpoint for step {step}")
        if not checkpoints:
            raise DataError(f"{self.directory}: no intact checkpoint found")
        errors = []
        for info in reversed(checkpoints):
            try:
                verify_checksums(info)
                tree = restore_tree(info.path / "state", target)
                _check_restored_finite(tree, info.path)
                return tree, info.metadata
            except Exception as e:  # noqa: BLE001 - a damaged checkpoint falls back to the previous one
                errors.append(f"{info.path.name}: {e}")
                warnings.warn(
                    f"checkpoint {info.path} could not be restored ({e}); trying an older one",
                    stacklevel=2,
                )
        raise DataError(f"{self.directory}: no checkpoint could be restored: {'; '.join(errors)}")

    def _prune(self) -> None:
        for info in self.checkpoints()[: -self.keep]:
            shutil.rmtree(info.path, ignore_errors=True)
        for path in self.directory.glob(f"{_TMP_PREFIX}*"):
            if not _owned_by_live_process(path.name):
                shutil.rmtree(path, ignore_errors=True)


CHECKSUMS_KEY = "checksums"


def state_checksums(state_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under an orbax ``state_dir``, by path relative to it."""
    sums = {}
    for file in sorted(p for p in state_dir.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with file.open("rb") as f:
            for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(chunk)
        sums[file.relative_to(state_dir).as_posix()] = digest.hexdigest()
    return sums


def verify_checksums(info: CheckpointInfo) -> None:
    """Raise :class:`DataError` naming the first file under ``state/`` that is missing or changed.

    Checkpoints written before checksums existed (no ``checksums`` in their metadata) pass.
    """
    recorded = info.metadata.get(CHECKSUMS_KEY)
    if recorded is None:
        return
    if not isinstance(recorded, dict) or not isinstance(recorded.get("files"), dict):
        raise DataError(f"{info.path / 'metadata.json'}: 'checksums' is malformed")
    actual = state_checksums(info.path / "state")
    for name, digest in recorded["files"].items():
        if name not in actual:
            raise DataError(f"{info.path / 'state' / name}: file is missing")
        if actual[name] != digest:
            raise DataError(
                f"{info.path / 'state' / name}: checksum mismatch (the file changed after it "
                f"was saved: expected sha256 {digest[:12]}…, got {actual[name][:12]}…)"
            )


def _check_restored_finite(tree: Any, path: Path) -> None:
    import jax

    bad = []
    for key, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or dtype.kind not in "fc" and not isinstance(leaf, float):
            continue  # ints, strings, PRNG keys: nothing to check
        if not np.isfinite(np.asarray(leaf, np.float32 if dtype.kind == "f" else None)).all():
            bad.append(jax.tree_util.keystr(key) or "<root>")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(f"{path}: restored values are not finite (NaN/Inf in {shown})")


def restore_tree(path: str | Path, target: Any = None) -> Any:
    """Restore one orbax pytree directory (see :meth:`CheckpointManager.restore`)."""
    import jax
    import orbax.checkpoint as ocp

    checkpointer = ocp.PyTreeCheckpointer()
    if target is None:
        metadata = checkpointer.metadata(path).item_metadata
        tree = metadata.tree if hasattr(metadata, "tree") else metadata

        def args_for(leaf: Any) -> Any:
            is_array = type(leaf).__name__ == "ArrayMetadata"
            return ocp.RestoreArgs(restore_type=np.ndarray) if is_array else ocp.RestoreArgs()

        return checkpointer.restore(path, restore_args=jax.tree.map(args_for, tree))
    restore_args = ocp.checkpoint_utils.construct_restore_args(target)
    return checkpointer.restore(path, item=target, restore_args=restore_args)


def _to_host(tree: Any) -> Any:
    """Arrays to NumPy (typed PRNG keys to their raw key data) so any device layout can restore."""
    import jax

    def convert(x: Any) -> Any:
        if isinstance(x, jax.Array):
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                x = jax.random.key_data(x)
            return np.asarray(x)
        return x

    return jax.tree.map(convert, tree)


def _read_metadata(path: Path) -> dict[str, Any] | None:
    try:
        with (path / "metadata.json").open() as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON data: tuples to lists, NumPy/JAX arrays and scalars to Python numbers,
    paths to strings, mapping keys to strings; anything else is a ``TypeError`` naming it.

    The one sanitiser for checkpoint metadata, learner configs and run records."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__array__") and hasattr(value, "shape"):
        return np.asarray(value).tolist()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"checkpoint metadata must be JSON data; got {type(value).__name__}: {value!r}")


# --------------------------------------------------------------------------------------------
# Pytree <-> nested dict: the one serialiser for every learner's arrays
# --------------------------------------------------------------------------------------------


def leaf_keys(path: tuple, *, strip_value: bool = False) -> list[str]:
    """The string keys of one pytree key path (dict keys, attribute names, sequence indices).

    With ``strip_value`` a trailing ``value`` (the field of an NNX variable) is dropped, so
    ``encoder.norm.scale.value`` is stored as ``encoder.norm.scale``."""
    keys = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                keys.append(str(getattr(key, attr)))
                break
        else:
            keys.append(str(key))
    if strip_value and len(keys) > 1 and keys[-1] == "value":
        keys.pop()
    return keys or ["_"]


def tree_to_nested(
    tree: Any, *, sep: str | None = None, strip_value: bool = False
) -> dict[str, Any]:
    """A pytree's leaves as host arrays in a dict keyed by their tree paths.

    Nested (``{"params": {"w": ...}}``) by default; with ``sep`` flat (``{"params.w": ...}``).
    :func:`nested_to_tree` is the inverse."""
    out: dict[str, Any] = {}
    for path, leaf in _tree_util().tree_flatten_with_path(tree)[0]:
        keys = leaf_keys(path, strip_value=strip_value)
        if sep is not None:
            out[sep.join(keys)] = np.asarray(leaf)
            continue
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = np.asarray(leaf)
    return out


def nested_to_tree(
    target: Any,
    data: Mapping[str, Any],
    *,
    where: str = "checkpoint",
    sep: str | None = None,
    strip_value: bool = False,
) -> Any:
    """``target`` with every leaf replaced by its entry in ``data`` (as :func:`tree_to_nested`
    made it, with the same ``sep``/``strip_value``), cast to the target leaf's dtype.

    Missing entries, unexpected entries (flat form) or a wrong shape are a :class:`DataError`
    naming ``where`` and the leaf, with the expected and actual value."""
    import jax.numpy as jnp

    flat, treedef = _tree_util().tree_flatten_with_path(target)
    names = [leaf_keys(path, strip_value=strip_value) for path, _ in flat]
    if sep is not None:
        wanted = {sep.join(keys) for keys in names}
        missing, extra = sorted(wanted - set(data)), sorted(set(data) - wanted)
        if missing or extra:
            raise DataError(
                f"{where}: entries do not match the model: missing {missing[:3]}, "
                f"unexpected {extra[:3]}"
            )
    leaves = []
    for keys, (_, leaf) in zip(names, flat, strict=True):
        value = np.asarray(_lookup(data, keys, sep, where))
        if value.shape != np.shape(leaf):
            raise DataError(
                f"{where}: {'/'.join(keys)} has shape {value.shape}; expected {np.shape(leaf)}"
            )
        leaves.append(jnp.asarray(value, dtype=jnp.asarray(leaf).dtype))
    return _tree_util().tree_unflatten(treedef, leaves)


def _lookup(data: Mapping[str, Any], keys: list[str], sep: str | None, where: str) -> Any:
    if sep is not None:
        return data[sep.join(keys)]
    node: Any = data
    for k in keys:
        if not isinstance(node, Mapping) or k not in node:
            raise DataError(f"{where}: missing entry {'/'.join(keys)}")
        node = node[k]
    return node


def _tree_util() -> Any:
    """``jax.tree_util``, imported on first use (this module must stay cheap to import)."""
    import jax

    return jax.tree_util


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _owned_by_live_process(name: str) -> bool:
    match = re.search(r"-(\d+)-[0-9a-f]{8}$", name)
    return bool(match) and pid_alive(int(match.group(1)))
