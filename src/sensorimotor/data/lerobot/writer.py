"""Writing a LeRobot v3.0 dataset: one data parquet file and one MP4 per camera per episode.

The dataset is built in ``<out>.partial`` and renamed to ``<out>`` by :meth:`LeRobotWriter.finalize`;
an error (or :meth:`abort`) removes the partial folder, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import DataError, UserError
from sensorimotor.data.lerobot.layout import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_PATH,
    EPISODES_PATH,
    INDEX_FEATURES,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
    data_file,
    video_file,
)
from sensorimotor.data.lerobot.stats import ImageStats, vector_stats
from sensorimotor.data.lerobot.video import encode_video, video_info


class LeRobotWriter:
    """Builds a dataset episode by episode; ``features`` are the non-index features (info.json form)."""

    def __init__(
        self,
        root: str | Path,
        fps: int,
        features: dict[str, dict[str, Any]],
        robot_type: str | None = None,
        codec: str = "libsvtav1",
        crf: int = 20,
    ) -> None:
        self.root = Path(root)
        if self.root.exists():
            raise UserError(f"{self.root} already exists; choose a new output folder")
        self.partial = self.root.with_name(self.root.name + ".partial")
        if self.partial.exists():
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True)
        self.fps = int(fps)
        self.features = {k: dict(v) for k, v in features.items()}
        self.robot_type = robot_type
        self.codec, self.crf = codec, crf
        self.episodes: list[dict[str, Any]] = []
        self.tasks: dict[str, int] = {}
        self._columns: dict[str, list[np.ndarray]] = {}
        self._images = {k: ImageStats() for k in self.video_keys}
        self._frames = 0

    @property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] == "video"]

    def add_episode(
        self, data: dict[str, np.ndarray], videos: dict[str, np.ndarray], task: str = ""
    ) -> None:
        """Write one episode: ``data[key]`` ``(T, *shape)`` per vector feature, ``videos[key]`` ``(T, H, W, 3)``."""
        episode = len(self.episodes)
        length = self._check_episode(data, videos)
        task_index = self.tasks.setdefault(task, len(self.tasks))
        chunk, file = divmod(episode, CHUNKS_SIZE)
        columns = {k: np.asarray(data[k], np.dtype(self.features[k]["dtype"])) for k in data}
        columns.update(
            timestamp=(np.arange(length) / self.fps).astype(np.float32),
            frame_index=np.arange(length, dtype=np.int64),
            episode_index=np.full(length, episode, np.int64),
            index=np.arange(self._frames, self._frames + length, dtype=np.int64),
            task_index=np.full(length, task_index, np.int64),
        )
        _write_parquet(data_file(self.partial, chunk, file), columns)
        row: dict[str, Any] = {
            "episode_index": episode,
            "tasks": [task],
            "length": length,
            "data/chunk_index": chunk,
            "data/file_index": file,
            "dataset_from_index": self._frames,
            "dataset_to_index": self._frames + length,
        }
        for key in self.video_keys:
            frames = np.asarray(videos[key], np.uint8)
            path = video_file(self.partial, key, chunk, file)
            encode_video(path, frames, self.fps, self.codec, self.crf)
            self._images[key].add(frames)
            if "info" not in self.features[key]:
                self.features[key]["info"] = video_info(path)
            row.update(
                {
                    f"videos/{key}/chunk_index": chunk,
                    f"videos/{key}/file_index": file,
                    f"videos/{key}/from_timestamp": 0.0,
                    f"videos/{key}/to_timestamp": length / self.fps,
                }
            )
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = 0, 0
        for key, values in columns.items():
            self._columns.setdefault(key, []).append(values)
        self.episodes.append(row)
        self._frames += length

    def finalize(self) -> Path:
        """Write the metadata and move the dataset into place; returns its folder."""
        if not self.episodes:
            raise UserError(f"{self.root}: no episodes to write")
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.partial / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self.episodes), path)
        _write_tasks(self.partial / TASKS_PATH, self.tasks)
        stats = {k: vector_stats(np.concatenate(v)) for k, v in self._columns.items()}
        stats.update({k: s.to_dict() for k, s in self._images.items()})
        _write_json(self.partial / STATS_PATH, stats)
        _write_json(self.partial / INFO_PATH, self.info())
        self.partial.rename(self.root)
        return self.root

    def info(self) -> dict[str, Any]:
        """The ``meta/info.json`` content."""
        return {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": len(self.episodes),
            "total_frames": self._frames,
            "total_tasks": len(self.tasks),
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": self.fps,
            "splits": {"train": f"0:{len(self.episodes)}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if self.video_keys else None,
            "features": {**self.features, **INDEX_FEATURES},
        }

    def abort(self) -> None:
        """Remove everything written so far."""
        shutil.rmtree(self.partial, ignore_errors=True)

    def __enter__(self) -> LeRobotWriter:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is not None:
            self.abort()

    def _check_episode(self, data: dict[str, np.ndarray], videos: dict[str, np.ndarray]) -> int:
        vectors = [k for k in self.features if k not in self.video_keys]
        if set(data) != set(vectors) or set(videos) != set(self.video_keys):
            raise DataError(
                f"episode needs data {sorted(vectors)} and videos {self.video_keys}, "
                f"got {sorted(data)} and {sorted(videos)}"
            )
        lengths = {k: len(v) for k, v in {**data, **videos}.items()}
        if len(set(lengths.values())) != 1 or 0 in lengths.values():
            raise DataError(f"episode features have different or zero lengths: {lengths}")
        for key, values in {**data, **videos}.items():
            shape = tuple(self.features[key]["shape"])
            if tuple(np.shape(values)[1:]) != shape:
                raise DataError(
                    f"feature {key}: frames of shape {np.shape(values)[1:]}, expected {shape}"
                )
        return next(iter(lengths.values()))


def _write_parquet(path: Path, columns: dict[str, np.ndarray]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for key, values in columns.items():
        if values.ndim == 1 or values.shape[1:] == (1,):  # shape [1] is a plain column in LeRobot
            arrays[key] = pa.array(values.reshape(len(values)))
        else:
            flat = pa.array(values.reshape(-1))
            arrays[key] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path)


def _write_tasks(path: Path, tasks: dict[str, int]) -> None:
    """``meta/tasks.parquet`` as pandas writes it (the task strings are the frame's index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pandas_meta = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    table = pa.table(
        {"task_index": pa.array(list(tasks.values()), pa.int64()), "__index_level_0__": list(tasks)}
    ).replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    pq.write_table(table, path)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4))
