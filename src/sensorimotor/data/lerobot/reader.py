"""Reading a LeRobot v3.0 dataset folder: metadata, per-episode frame data, per-episode video frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError
from sensorimotor.data.lerobot.layout import (
    CODEBASE_VERSION,
    EPISODES_DIR,
    INFO_PATH,
    LOGS_DIR,
    TASKS_PATH,
    data_file,
    video_file,
)
from sensorimotor.data.lerobot.video import decode_range

_EPISODE_KEYS = ("episode_index", "length", "data/chunk_index", "data/file_index")


class LeRobotReader:
    """A LeRobot v3.0 dataset on disk; every problem is a :class:`DataError` naming the file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: LeRobot dataset folder not found")
        self.info = read_info(self.root)
        self.fps = int(self.info["fps"])
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.episodes = read_episodes(self.root, self.video_keys)
        self.tasks = read_tasks(self.root)
        self._tables: dict[Path, Any] = {}

    @property
    def video_keys(self) -> list[str]:
        """Features stored as MP4 videos, in ``info.json`` order."""
        return [k for k, f in self.features.items() if f.get("dtype") == "video"]

    @property
    def robot_type(self) -> str | None:
        return self.info.get("robot_type")

    def names(self, key: str) -> list[str]:
        """The per-dimension names of feature ``key`` (e.g. ``shoulder_pan.pos``)."""
        names = self.features[key].get("names")
        if isinstance(names, dict):  # older datasets: {"motors": [...]}
            names = next(iter(names.values()))
        return list(names or [])

    def episode_data(self, episode: int) -> dict[str, np.ndarray]:
        """Every non-video column of one episode, ``(length, *shape)`` arrays in frame order."""
        meta = self.episodes[episode]
        path = data_file(self.root, meta["data/chunk_index"], meta["data/file_index"])
        table = self._table(path)
        index = table["episode_index"]
        rows = np.flatnonzero(index == meta["episode_index"])
        if len(rows) != meta["length"]:
            raise DataError(
                f"{path}: episode {meta['episode_index']} has {len(rows)} frame rows, "
                f"{EPISODES_DIR} says {meta['length']}"
            )
        return {key: column[rows] for key, column in table.items()}

    def episode_video(self, episode: int, key: str, frames: np.ndarray | None = None) -> np.ndarray:
        """The frames ``uint8 (length, H, W, 3)`` of camera feature ``key`` for one episode (only
        the frame indices ``frames``, in that order, when given)."""
        meta = self.episodes[episode]
        path = video_file(
            self.root, key, meta[f"videos/{key}/chunk_index"], meta[f"videos/{key}/file_index"]
        )
        if not path.is_file():
            raise DataError(
                f"{path}: video chunk of {key} for episode {meta['episode_index']} is missing"
            )
        start = float(meta[f"videos/{key}/from_timestamp"])
        return decode_range(path, start, meta["length"], self.fps, frames)

    def action_logs(self) -> list[Path]:
        """The simple_joint policy's discrete action logs (``meta/discrete_action_logs/*.jsonl``)."""
        folder = self.root / LOGS_DIR
        return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []

    def _table(self, path: Path) -> dict[str, np.ndarray]:
        if path not in self._tables:
            self._tables[path] = read_data_file(path, self.features)
        return self._tables[path]


def read_info(root: Path) -> dict[str, Any]:
    """``meta/info.json``, checked for the codebase version, fps and features."""
    path = root / INFO_PATH
    if not path.is_file():
        raise DataError(f"{path}: missing; {root} is not a LeRobot dataset")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e})") from None
    version = info.get("codebase_version")
    if version != CODEBASE_VERSION:
        raise DataError(
            f"{path}: codebase_version is {version!r}, expected {CODEBASE_VERSION!r} (convert older "
            "datasets with LeRobot's convert_dataset_v21_to_v30 first)"
        )
    for key in ("fps", "features"):
        if key not in info:
            raise DataError(f"{path}: lacks {key!r}")
    if not isinstance(info["fps"], int | float) or info["fps"] <= 0:
        raise DataError(f"{path}: fps must be a positive number, got {info['fps']!r}")
    return info


def read_episodes(root: Path, video_keys: list[str]) -> list[dict[str, Any]]:
    """One dict per episode (``meta/episodes/*/*.parquet``, sorted by episode index)."""
    import pyarrow.parquet as pq

    files = sorted((root / EPISODES_DIR).glob("*/*.parquet"))
    if not files:
        raise DataError(f"{root / EPISODES_DIR}: no episode metadata parquet files")
    rows: list[dict[str, Any]] = []
    for file in files:
        try:
            table = pq.read_table(file)
        except Exception as e:  # noqa: BLE001 - pyarrow raises many types for corrupt files
            raise DataError(f"{file}: cannot read the episodes parquet ({e})") from None
        wanted = [
            *_EPISODE_KEYS,
            *(
                f"videos/{k}/{c}"
                for k in video_keys
                for c in ("chunk_index", "file_index", "from_timestamp")
            ),
        ]
        missing = [c for c in wanted if c not in table.column_names]
        if missing:
            raise DataError(f"{file}: episode metadata lacks columns {missing}")
        keep = [c for c in table.column_names if not c.startswith("stats/")]
        rows.extend(table.select(keep).to_pylist())
    rows.sort(key=lambda r: r["episode_index"])
    return rows


def read_tasks(root: Path) -> list[str]:
    """Task strings by task index (``meta/tasks.parquet``: pandas index = task)."""
    import pyarrow.parquet as pq

    path = root / TASKS_PATH
    if not path.is_file():
        return []
    table = pq.read_table(path)
    text_column = next((c for c in table.column_names if c != "task_index"), None)
    if text_column is None or "task_index" not in table.column_names:
        raise DataError(f"{path}: expected a task column and task_index, got {table.column_names}")
    pairs = sorted(
        zip(table["task_index"].to_pylist(), table[text_column].to_pylist(), strict=True)
    )
    return [task for _, task in pairs]


def read_data_file(path: Path, features: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """The non-video columns of one data parquet file as ``(rows, *shape)`` numpy arrays."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataError(f"{path}: data chunk is missing")
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: cannot read the data parquet ({e})") from None
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        feature = features.get(name)
        if feature is not None and feature.get("dtype") in ("video", "image"):
            continue
        column = table[name].combine_chunks()
        if _is_list(column.type):
            values = column.flatten().to_numpy(zero_copy_only=False)
            out[name] = values.reshape(len(column), -1)
        else:
            out[name] = column.to_numpy(zero_copy_only=False)
    if "episode_index" not in out:
        raise DataError(f"{path}: data parquet lacks the episode_index column")
    return out


def _is_list(kind: Any) -> bool:
    import pyarrow as pa

    return (
        pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind) or pa.types.is_large_list(kind)
    )
