"""Servo calibration and the verification sequence on a real SO-101, for ``sensorimotor so101 record``.

Runs in LeRobot's environment (it drives the arm through LeRobot's ``so101_follower``) and prints
one JSON line, so sensorimotor itself never imports PyTorch:

    python -m lerobot_policy_simple_joint.servo calibrate --port /dev/ttyACM0 --joint elbow_flex
    python -m lerobot_policy_simple_joint.servo verify --port ... --joint ... --duration 0.4 --out DIR

``calibrate`` measures how long the joint takes to settle after a +delta and a -delta move with
sensorimotor's calibration logic; ``verify`` runs MOVE+, STAY, MOVE-, STAY and saves the camera
frames before and after each action as ``DIR/frame_<k>.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _connect(args: argparse.Namespace):  # noqa: ANN202 - a LeRobot robot
    from lerobot.cameras.opencv import OpenCVCameraConfig
    from lerobot.robots.so_follower import SO101FollowerConfig, SOFollower

    cameras = {
        name: OpenCVCameraConfig(index_or_path=source, width=640, height=480, fps=30)
        for name, source in (
            ("base_0_rgb", args.base_camera),
            ("left_wrist_0_rgb", args.wrist_camera),
        )
        if source is not None
    }
    robot = SOFollower(SO101FollowerConfig(port=args.port, id=args.robot_id, cameras=cameras))
    robot.connect(calibrate=False)
    return robot


def _mover(robot, joint: str, delta: float):  # noqa: ANN001, ANN202
    def move() -> None:
        positions = robot.bus.sync_read("Present_Position")
        positions[joint] += delta
        robot.send_action({f"{m}.pos": v for m, v in positions.items()})

    return move


def calibrate(args: argparse.Namespace) -> dict:
    from sensorimotor.robots.so101.calibration import calibrate as measure

    robot = _connect(args)
    try:
        result = measure(
            lambda: float(robot.bus.read("Present_Position", args.joint)),
            [_mover(robot, args.joint, args.delta), _mover(robot, args.joint, -args.delta)],
        )
    finally:
        robot.disconnect()
    return {"settle_times": list(result.settle_times), "action_duration": result.action_duration}


def verify(args: argparse.Namespace) -> dict:
    from PIL import Image

    robot = _connect(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    try:

        def capture(k: int) -> None:
            observation = robot.get_observation()
            frames = [
                observation[c] for c in ("base_0_rgb", "left_wrist_0_rgb") if c in observation
            ]
            path = out / f"frame_{k}.png"
            Image.fromarray(np.concatenate(frames, axis=0)).save(path)
            files.append(str(path))

        capture(0)
        for k, action in enumerate((1, 0, 2, 0), start=1):
            _mover(robot, args.joint, (0.0, args.delta, -args.delta)[action])()
            time.sleep(args.duration)
            capture(k)
    finally:
        robot.disconnect()
    return {"frames": files}


def main() -> None:
    parser = argparse.ArgumentParser(description="SO-101 servo calibration / verification")
    parser.add_argument("command", choices=["calibrate", "verify"])
    parser.add_argument("--port", required=True)
    parser.add_argument("--robot-id", default="so101_follower")
    parser.add_argument("--joint", default="shoulder_pan")
    parser.add_argument("--delta", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=0.5)
    parser.add_argument("--base-camera", default=None)
    parser.add_argument("--wrist-camera", default=None)
    parser.add_argument("--out", default="so101_verification")
    args = parser.parse_args()
    result = calibrate(args) if args.command == "calibrate" else verify(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
