"""LeRobot → sessions conversion speed (decode + match + write) vs plain PyAV decoding of the same
videos, measured in the same run; frames/s counts every video frame of every camera.

python benchmarks/lerobot_convert.py [--dataset PATH] [--seconds 20] [--repeat 3]

Without --dataset, a 2-episode dataset of the simulated SO-101 (224×224 base + wrist cameras,
30 fps, 0.5 s actions, action logs) is written first with our LeRobot writer.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_info, print_rows

from sensorimotor.data.lerobot.reader import LeRobotReader
from sensorimotor.robots.lerobot.import_lerobot import convert_dataset


def make_dataset(root: Path, seconds: float, fps: int = 30, size: int = 224) -> Path:
    """A simulated SO-101 dataset: random 0.5 s actions on shoulder_pan, targets and logs as the
    simple_joint policy writes them."""
    from sensorimotor.data.lerobot.action_log import write_action_log
    from sensorimotor.data.lerobot.writer import LeRobotWriter
    from sensorimotor.robots.so101.constants import CAMERAS, JOINTS
    from sensorimotor.robots.so101.sim import SO101Sim

    names = [f"{j}.pos" for j in JOINTS]
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": names},
        "action": {"dtype": "float32", "shape": [6], "names": names},
        **{
            f"observation.images.{c}": {"dtype": "video", "shape": [size, size, 3], "names": None}
            for c in CAMERAS
        },
    }
    rng = np.random.default_rng(0)
    per_action = round(0.5 * fps)
    writer = LeRobotWriter(root, fps, features, robot_type="so101_sim")
    for episode in range(2):
        robot = SO101Sim(width=size, height=size)
        target = robot.positions().astype(np.float64)
        states, actions, frames, log = [], [], {c: [] for c in CAMERAS}, []
        for frame in range(round(seconds * fps)):
            if frame % per_action == 0:
                code = 1 if frame == 0 else int(rng.integers(3))
                target[0] += (0.0, 10.0, -10.0)[code]
                log.append({"index": len(log), "action": code, "t": frame / fps, "frame": frame})
            images = robot.camera_images()
            for c in CAMERAS:
                frames[c].append(images[c])
            states.append(robot.positions())
            actions.append(target.astype(np.float32))
            robot.set_targets(target)
            robot.advance(1 / fps)
        robot.cleanup()
        videos = {f"observation.images.{c}": np.stack(v) for c, v in frames.items()}
        writer.add_episode(
            {"observation.state": np.stack(states), "action": np.stack(actions)}, videos, "move"
        )
        header = {
            "joint_name": "shoulder_pan",
            "position_delta": 10.0,
            "action_duration": 0.5,
            "fps": fps,
        }
        write_action_log(
            writer.partial / f"meta/discrete_action_logs/episode_{episode:06d}.jsonl", header, log
        )
    return writer.finalize()


def decode_all(root: Path) -> int:
    """Plain PyAV: decode every frame of every video file to RGB; returns the frame count."""
    import av

    count = 0
    for path in sorted(root.glob("videos/*/*/*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dataset", type=Path, help="a LeRobot v3.0 dataset (default: generate one)"
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="episode length when generating"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lerobot_convert_"))
    try:
        dataset = args.dataset or make_dataset(work / "so101_sim", args.seconds)
        reader = LeRobotReader(dataset)
        frames = sum(e["length"] for e in reader.episodes) * len(reader.video_keys)
        decode, convert = [], []
        for r in range(args.repeat):  # interleaved, best of --repeat each
            start = time.perf_counter()
            assert decode_all(dataset) == frames
            decode.append(time.perf_counter() - start)
            start = time.perf_counter()
            sessions = convert_dataset(dataset, work / f"sessions{r}")
            convert.append(time.perf_counter() - start)
        steps = sum(len(list((s / "steps.jsonl").open())) for s in sessions)
        best_decode, best_convert = min(decode), min(convert)
        print(machine_info())
        print(
            f"{dataset}: {len(reader.episodes)} episodes, {frames} video frames, {steps} session steps"
        )
        print_rows(
            [
                {"variant": "PyAV decode, every frame (baseline)", "frames/s": frames / best_decode, "seconds": best_decode, "ratio": 1.0},
                {"variant": "convert lerobot (decode + match + write)", "frames/s": frames / best_convert, "seconds": best_convert, "ratio": best_decode / best_convert},
            ]
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
