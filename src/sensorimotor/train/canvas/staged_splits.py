"""Progressive train/validation splits of one session for staged training.

Stage ``N`` covers the first ``initial_size * 2**(N-1)`` observations (10, 20, 40, ...; the whole
session as the last stage when it is not a power-of-two multiple), split in time into the first
``train_ratio`` for training and the rest for validation. Each split is a *view* session (a
``metadata.json`` referencing the root session's steps and frames, no copies) named
``<session>_stage<N>_train_<size>`` / ``<session>_stage<N>_validate_<size>`` beside the root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.robots.session import SessionReader, write_view

_SPLIT = re.compile(r"^(?P<root>.+)_stage(?P<stage>\d+)_(?P<part>train|validate)_(?P<size>\d+)$")


@dataclass(frozen=True)
class StageSplit:
    """One stage: its number, size (observations) and the two view sessions."""

    stage: int
    size: int
    train: Path
    validate: Path


def stage_sizes(total: int, initial_size: int) -> list[int]:
    """``initial_size * 2**k`` up to ``total`` observations, then ``total`` itself.

    A whole-session stage that would add under a quarter of the last doubling's observations
    replaces that stage instead: a near copy of the stage before it costs a full stage's budget
    for almost no new data (1000 then 1001 observations cost 1372 steps in the quality run).
    """
    if initial_size < 6:  # 3 training + 3 validation observations: one canvas each
        raise UserError(f"initial size must be >= 6 observations, got {initial_size}")
    if total < initial_size:
        raise DataError(
            f"the session has {total} observations, fewer than the initial size {initial_size}"
        )
    sizes, size = [], initial_size
    while size <= total:
        sizes.append(size)
        size *= 2
    if sizes[-1] == total:
        return sizes
    if total - sizes[-1] < sizes[-1] / 4:
        sizes[-1] = total
    else:
        sizes.append(total)
    return sizes


def make_splits(
    session: str | Path, initial_size: int = 10, train_ratio: float = 0.7
) -> list[StageSplit]:
    """Write the progressive split views of ``session`` beside it; returns them stage by stage."""
    if not 0 < train_ratio < 1:
        raise UserError(f"train ratio must be in (0, 1), got {train_ratio}")
    root = Path(session)
    reader = SessionReader(root)
    if reader.view is not None:
        raise UserError(f"{root} is itself a split (a view); give the root session")
    splits = []
    for stage, size in enumerate(stage_sizes(len(reader), initial_size), start=1):
        n_train = min(max(3, round(size * train_ratio)), size - 3)
        name = f"{root.name}_stage{stage}"
        train = write_view(root, f"{name}_train_{size}", 0, n_train)
        validate = write_view(root, f"{name}_validate_{size}", n_train, size)
        splits.append(StageSplit(stage, size, train, validate))
    return splits


def find_splits(session: str | Path) -> list[StageSplit]:
    """The split views already written beside ``session`` (by name), stage by stage."""
    root = Path(session)
    found: dict[int, dict[str, object]] = {}
    for path in root.parent.iterdir() if root.parent.is_dir() else []:
        m = _SPLIT.match(path.name)
        if m and m["root"] == root.name and path.is_dir():
            entry = found.setdefault(int(m["stage"]), {"size": int(m["size"])})
            entry[m["part"]] = path
    splits = []
    for stage in sorted(found):
        entry = found[stage]
        if "train" not in entry or "validate" not in entry:
            raise DataError(f"{root}: split stage {stage} lacks its train or validate view")
        splits.append(StageSplit(stage, int(entry["size"]), entry["train"], entry["validate"]))  # type: ignore[arg-type]
    return splits
