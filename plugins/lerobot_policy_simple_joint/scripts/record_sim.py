"""Record a LeRobot v3.0 dataset from the simulated SO-101 with the simple_joint policy.

This runs LeRobot's own recording path (``LeRobotDataset.create`` / ``add_frame`` /
``save_episode``, ``make_policy``, ``make_pre_post_processors``, ``predict_action``) the way
``lerobot-record`` does, with sensorimotor's simulated arm in place of the serial-bus robot, so
the dataset (and its action logs) is exactly what a real recording produces.

    python plugins/lerobot_policy_simple_joint/scripts/record_sim.py OUT --episodes 4 --seconds 20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CAMERAS = ("base_0_rgb", "left_wrist_0_rgb")


def record(
    root: Path,
    episodes: int = 2,
    seconds: float = 6.0,
    fps: int = 30,
    joint: str = "shoulder_pan",
    mode: str = "random",
    sequence: list[int] | None = None,
    position_delta: float = 10.0,
    action_duration: float = 0.5,
    seed: int = 0,
    size: int = 224,
    keep_frames: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Record ``episodes`` episodes into ``root``; returns the rendered frames when ``keep_frames``."""
    import torch
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.policies.factory import make_policy, make_pre_post_processors
    from lerobot.utils.control_utils import predict_action
    from lerobot.utils.import_utils import register_third_party_plugins

    from sensorimotor.robots.so101.constants import JOINTS
    from sensorimotor.robots.so101.sim import SO101Sim

    register_third_party_plugins()
    names = [f"{j}.pos" for j in JOINTS]
    features = {
        "action": {"dtype": "float32", "shape": (6,), "names": names},
        "observation.state": {"dtype": "float32", "shape": (6,), "names": names},
        **{
            f"observation.images.{c}": {
                "dtype": "video",
                "shape": (size, size, 3),
                "names": ["height", "width", "channels"],
            }
            for c in CAMERAS
        },
    }
    dataset = LeRobotDataset.create(
        "local/so101_sim",
        fps,
        root=root,
        robot_type="so101_sim",
        features=features,
        use_videos=True,
    )
    config = PreTrainedConfig.get_choice_class("simple_joint")(
        joint_name=joint,
        mode=mode,
        sequence=list(sequence or []),
        position_delta=position_delta,
        action_duration=action_duration,
        fps=fps,
        seed=seed,
        log_dir=str(root / "meta" / "discrete_action_logs"),
        device="cpu",
    )
    policy = make_policy(config, ds_meta=dataset.meta)
    pre, post = make_pre_post_processors(config, dataset_stats=dataset.meta.stats)
    robot = SO101Sim(joint=joint, width=size, height=size)
    kept: list[dict[str, np.ndarray]] = []
    clock = [1.7e9]  # an ideal real-time loop: the wall clock advances 1/fps per frame
    policy.clock = lambda: clock[0]
    for _ in range(episodes):
        robot.reset()
        policy.reset()
        pre.reset()
        post.reset()
        frames: dict[str, list[np.ndarray]] = {c: [] for c in CAMERAS}
        for _ in range(round(seconds * fps)):
            images = robot.camera_images()
            observation = {
                "observation.state": robot.positions(),
                **{f"observation.images.{c}": images[c] for c in CAMERAS},
            }
            action = predict_action(
                observation,
                policy,
                torch.device("cpu"),
                pre,
                post,
                False,
                "move one joint",
                "so101_sim",
            )
            action = action.squeeze(0).numpy().astype(np.float32)
            dataset.add_frame({**observation, "action": action, "task": "move one joint"})
            robot.set_targets(action)
            robot.advance(1.0 / fps)
            clock[0] += 1.0 / fps
            if keep_frames:
                for c in CAMERAS:
                    frames[c].append(images[c])
        # One encoder process per camera would fork this (JAX-importing, multithreaded) process.
        dataset.save_episode(parallel_encoding=False)
        clock[0] += 10.0  # the reset period between episodes
        if keep_frames:
            kept.append({c: np.stack(v) for c, v in frames.items()})
    dataset.finalize()
    robot.cleanup()
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--joint", default="shoulder_pan")
    parser.add_argument("--mode", default="random", choices=["random", "sequence", "deterministic"])
    parser.add_argument("--position-delta", type=float, default=10.0)
    parser.add_argument("--action-duration", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    record(
        args.out,
        args.episodes,
        args.seconds,
        args.fps,
        args.joint,
        args.mode,
        None,
        args.position_delta,
        args.action_duration,
        args.seed,
        args.size,
    )
    print(f"dataset: {args.out}")


if __name__ == "__main__":
    main()
