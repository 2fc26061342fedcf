"""The on-disk layout of a LeRobot v3.0 dataset (as written by ``lerobot.datasets`` 0.4)::

meta/info.json                                   codebase_version, fps, features, paths, totals
meta/stats.json                                  per-feature min/max/mean/std/count
meta/tasks.parquet                               task strings (pandas index) -> task_index
meta/episodes/chunk-000/file-000.parquet         one row per episode: length, tasks, data and
                                                 video file indices, video from/to timestamps
data/chunk-000/file-000.parquet                  one row per frame: non-video features + indices
videos/<video_key>/chunk-000/file-000.mp4        each camera's frames, episodes back to back
meta/discrete_action_logs/*.jsonl                (ours) the simple_joint policy's action logs
"""

from __future__ import annotations

from pathlib import Path

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
LOGS_DIR = "meta/discrete_action_logs"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE + ".parquet"
CHUNKS_SIZE = 1000  # files per chunk folder
#: Columns every frame row has, besides the dataset's own features.
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
IMAGE_PREFIX = "observation.images."


def data_file(root: Path, chunk: int, file: int) -> Path:
    """The data parquet file of ``(chunk, file)``."""
    return root / DATA_PATH.format(chunk_index=chunk, file_index=file)


def video_file(root: Path, key: str, chunk: int, file: int) -> Path:
    """The MP4 file of camera feature ``key`` at ``(chunk, file)``."""
    return root / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)


def camera_name(video_key: str) -> str:
    """``observation.images.base_0_rgb`` -> ``base_0_rgb``."""
    return video_key.removeprefix(IMAGE_PREFIX)
