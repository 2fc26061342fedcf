"""Rebuilding any saved learner: the kind registry and :func:`load_learner`.

Each learner kind registers its factory ``(name, spec, *, config) -> learner`` in
:data:`LEARNER_KINDS` when its package is imported (``policy`` by :mod:`sensorimotor.policies`,
``critic`` and ``agent`` by :mod:`sensorimotor.agents`), so this layer never imports upward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.errors import DataError
from sensorimotor.core.registry import Registry
from sensorimotor.learners.spec import Spec

#: Learner kind (``policy | critic | agent``) -> factory ``(name, spec, *, config) -> learner``.
LEARNER_KINDS = Registry("learner kind")

#: Version of the checkpoint metadata layout written by ``Learner.save``.
FORMAT_VERSION = 1

_REQUIRED = ("kind", "name", "spec", "config")

#: The package whose import registers each built-in kind (named in the error for a missing one).
_PACKAGE_OF_KIND = {
    "policy": "sensorimotor.policies",
    "critic": "sensorimotor.agents",
    "agent": "sensorimotor.agents",
}


def read_learner_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of the newest intact learner checkpoint under ``path`` (kind, name, spec,
    config, ...); a :class:`DataError` when there is none or it is not a learner's."""
    path = Path(path).resolve()  # orbax needs absolute paths
    info = CheckpointManager(path, keep=2).latest()
    if info is None:
        raise DataError(f"{path}: no intact checkpoint found")
    meta = dict(info.metadata or {})
    for key in _REQUIRED:
        if key not in meta:
            raise DataError(
                f"{path}: checkpoint metadata lacks {key!r}; not a sensorimotor learner"
            )
    return meta


def load_learner(
    path: str | Path, *, step: int | None = None, expected_kind: str | None = None
) -> Any:
    """Rebuild the learner saved under ``path`` (latest intact step unless ``step`` is given).

    With ``expected_kind`` a checkpoint of another kind is a :class:`DataError` naming both.
    """
    path = Path(path).resolve()
    meta = read_learner_metadata(path)
    kind = meta["kind"]
    if expected_kind and kind != expected_kind:
        raise DataError(
            f"{path}: holds a {kind!r} checkpoint ({meta['name']!r}); expected a {expected_kind!r}"
        )
    if kind not in LEARNER_KINDS:
        package = _PACKAGE_OF_KIND.get(kind, "the package that defines it")
        raise DataError(
            f"{path}: learner kind {kind!r} is not registered; import {package} first "
            f"(registered kinds: {LEARNER_KINDS.names()})"
        )
    factory = LEARNER_KINDS.get(kind)
    fresh = factory(meta["name"], Spec.from_dict(meta["spec"]), config=meta["config"])
    nested, _ = CheckpointManager(path, keep=2).restore(step=step)
    return fresh.load_state_dict(nested, where=str(path))
