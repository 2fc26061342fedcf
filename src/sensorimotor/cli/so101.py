"""``sensorimotor so101 record``: calibrate, verify and print the ``lerobot-record`` command."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "so101",
        help="SO-101 arm: record single-joint moves with LeRobot",
        description="Recording wrapper for the SO-101 arm and LeRobot's lerobot-record.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    record = actions.add_parser(
        "record",
        help="calibrate servo settling, verify the moves, print the lerobot-record command",
        description="Measure how long the joint takes to settle after a move (the action duration "
        "= slowest settle x 1.2), show the verification sequence [MOVE+, STAY, MOVE-, STAY] as a "
        "canvas preview PNG, then print the lerobot-record command for the simple_joint policy "
        "(episode time = sequence duration + 5 s). --sim runs calibration and verification on the "
        "simulated arm; otherwise they run on the real arm through LeRobot "
        "(python -m lerobot_policy_simple_joint.servo in the LeRobot environment).",
    )
    record.add_argument(
        "--repo-id", required=True, help="LeRobot dataset repo id, e.g. me/so101_moves"
    )
    record.add_argument("--root", help="dataset folder (default: saved/lerobot/<repo name>)")
    record.add_argument("--port", default="/dev/ttyACM0", help="the arm's serial port")
    record.add_argument(
        "--robot-id", default="so101_follower", help="LeRobot robot id (default: %(default)s)"
    )
    record.add_argument(
        "--joint-name",
        default="shoulder_pan",
        help="the joint the actions move (default: %(default)s)",
    )
    record.add_argument("--position-delta", type=float, default=10.0, help="degrees per MOVE")
    record.add_argument(
        "--action-duration", type=float, default=0.5, help="seconds (calibration overrides)"
    )
    record.add_argument(
        "--mode",
        default="sequence",
        choices=["sequence", "random", "deterministic"],
        help="the plugin policy's mode (default: %(default)s)",
    )
    record.add_argument("--sequence", default="1,0,2,0", help="comma-separated actions 0/1/2")
    record.add_argument("--episodes", type=int, default=1, help="episodes (default: %(default)s)")
    record.add_argument(
        "--episode-time", type=float, help="seconds per episode (random/deterministic)"
    )
    record.add_argument("--fps", type=int, default=30, help="recording rate (default: %(default)s)")
    record.add_argument(
        "--base-camera", default="0", help="OpenCV index or path of the base camera"
    )
    record.add_argument(
        "--wrist-camera", default="1", help="OpenCV index or path of the wrist camera"
    )
    record.add_argument(
        "--skip-calibration", action="store_true", help="keep --action-duration as given"
    )
    record.add_argument(
        "--skip-verification", action="store_true", help="skip the MOVE+/STAY/MOVE-/STAY check"
    )
    record.add_argument(
        "--sim", action="store_true", help="calibrate and verify on the simulated arm"
    )
    record.add_argument(
        "--lerobot-python", default="python3", help="Python of the LeRobot environment"
    )
    record.add_argument(
        "--preview", default="saved/so101_verification.png", help="where the preview PNG goes"
    )
    record.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    from sensorimotor.core.errors import UserError
    from sensorimotor.robots.so101.record import (
        RecordPlan,
        format_command,
        lerobot_record_command,
    )

    try:
        sequence = [int(a) for a in args.sequence.split(",") if a.strip()] if args.sequence else []
    except ValueError:
        raise UserError(
            f"--sequence must be comma-separated 0/1/2, got {args.sequence!r}"
        ) from None
    plan = RecordPlan(
        port=args.port,
        repo_id=args.repo_id,
        root=args.root or f"saved/lerobot/{args.repo_id.split('/')[-1]}",
        joint_name=args.joint_name,
        position_delta=args.position_delta,
        action_duration=args.action_duration,
        mode=args.mode,
        sequence=sequence if args.mode == "sequence" else [],
        episodes=args.episodes,
        fps=args.fps,
        episode_time=args.episode_time,
        robot_id=args.robot_id,
        cameras={"base_0_rgb": args.base_camera, "left_wrist_0_rgb": args.wrist_camera},
    )
    if not args.skip_calibration:
        settle, plan.action_duration = _calibrate(args)
        print(
            f"calibration: settle times {', '.join(f'{t * 1000:.0f} ms' for t in settle)} -> "
            f"action duration {plan.action_duration:.3f} s"
        )
    if not args.skip_verification:
        path = _verify(args, plan.action_duration)
        print(f"verification [MOVE+, STAY, MOVE-, STAY] preview: {path}")
    print("record with:\n" + format_command(lerobot_record_command(plan)))
    return 0


def _calibrate(args: argparse.Namespace) -> tuple[tuple[float, ...], float]:
    from sensorimotor.robots.so101.calibration import calibrate

    if not args.sim:
        result = _servo(args, "calibrate")
        return tuple(result["settle_times"]), float(result["action_duration"])
    robot = _sim_robot(args, render=False)
    j = robot.joint_index

    def move(sign: float):  # noqa: ANN202
        def send() -> None:
            targets = robot.positions().astype(float)
            targets[j] += sign * args.position_delta
            robot.set_targets(targets)

        return send

    result = calibrate(
        lambda: float(robot.positions()[j]),
        [move(1.0), move(-1.0)],
        wait=robot.advance,
        clock=lambda: float(robot.data.time),
    )
    robot.cleanup()
    return result.settle_times, result.action_duration


def _verify(args: argparse.Namespace, duration: float) -> Path:
    import numpy as np
    from PIL import Image

    from sensorimotor.robots.so101.record import VERIFICATION, verification_preview
    from sensorimotor.worldmodels.canvas import action_palette

    palette = action_palette(3)
    if args.sim:
        robot = _sim_robot(args, render=True, action_duration=duration)
        space = robot.action_space
        strip = verification_preview(
            lambda a: robot.execute_action(space[a]),
            lambda: robot.get_observation()["image"],
            palette,
        )
        robot.cleanup()
    else:
        result = _servo(args, "verify", "--duration", str(duration))
        frames = iter([np.asarray(Image.open(f).convert("RGB")) for f in result["frames"]])
        strip = verification_preview(lambda a: None, lambda: next(frames), palette, VERIFICATION)
    path = Path(args.preview)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path)
    return path


def _sim_robot(args: argparse.Namespace, render: bool, action_duration: float = 0.5):  # noqa: ANN202
    from sensorimotor.robots.so101.sim import SO101Sim

    return SO101Sim(
        joint=args.joint_name,
        position_delta=args.position_delta,
        action_duration=action_duration,
        render=render,
    )


def _servo(args: argparse.Namespace, command: str, *extra: str) -> dict:
    """Run the plugin's servo helper in the LeRobot environment; its last stdout line is JSON."""
    from sensorimotor.core.errors import UserError

    argv = [
        args.lerobot_python, "-m", "lerobot_policy_simple_joint.servo", command,
        "--port", args.port, "--robot-id", args.robot_id, "--joint", args.joint_name,
        "--delta", str(args.position_delta), "--base-camera", args.base_camera,
        "--wrist-camera", args.wrist_camera, "--out", str(Path(args.preview).with_suffix("")), *extra,
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UserError(
            f"{args.lerobot_python!r} not found; pass --lerobot-python or --sim"
        ) from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise UserError(
            f"the arm on {args.port} could not be driven ({' '.join(argv[:4])} exited "
            f"{done.returncode}): {' | '.join(tail)}; check the port and that LeRobot and "
            "lerobot_policy_simple_joint are installed there, or use --sim / --skip-calibration"
        )
    return json.loads(lines[-1])
