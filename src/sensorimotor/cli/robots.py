"""``record``, ``replay`` and ``sessions``: drive robots, record what they saw and did, replay it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.cli.common import add_overrides, format_bytes, print_table
from sensorimotor.core.config import apply_overrides, config_from_dict, config_to_dict, load_config
from sensorimotor.core.errors import UserError
from sensorimotor.robots.config import resolve_seeds
from sensorimotor.robots.runner import RecordJobConfig, RobotRunner, RunStats, StepEvent
from sensorimotor.robots.selectors import RecordedSelector, action_counts
from sensorimotor.robots.session import (
    DEFAULT_ROOT,
    ReplayRobot,
    SessionReader,
    delete_session,
    find_session,
    list_sessions,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    record = subparsers.add_parser(
        "record",
        help="drive a robot with an action selector and record the session",
        description="Drive a robot with an action selector for N steps (or until Ctrl-C) and record every "
        "frame and action under saved/sessions/<robot>/<session>/. "
        "Example: sensorimotor record robot=toroidal_dot selector=sequence selector.sequence=ALTERNATE steps=200",
    )
    add_overrides(record, "robot=mujoco robot.scene=test_scene steps=200")
    record.set_defaults(func=record_command)

    replay = subparsers.add_parser(
        "replay",
        help="replay a recorded session (check it, export it, or re-run its actions on a robot)",
        description="Replay a recorded session through the Robot interface. By default the frames are read back "
        "and checked; --export writes them as a GIF/MP4 or a PNG folder; --on-robot executes the recorded "
        "actions on a fresh robot built from the session's config (plus overrides) and compares its frames "
        "with the recording.",
    )
    replay.add_argument("session", help="session path, robot_type/name, or a unique name")
    replay.add_argument(
        "--root", default=str(DEFAULT_ROOT), help="sessions folder (default: %(default)s)"
    )
    replay.add_argument(
        "--export", metavar="PATH", help="write the frames to PATH (.gif, .mp4, or a folder)"
    )
    replay.add_argument(
        "--fps",
        type=float,
        default=10.0,
        help="frames per second for --export (default: %(default)s)",
    )
    replay.add_argument(
        "--key", default="image", help="observation key to export (default: %(default)s)"
    )
    replay.add_argument(
        "--on-robot", action="store_true", help="execute the recorded actions on a fresh robot"
    )
    replay.add_argument(
        "--record", action="store_true", help="with --on-robot: record the new run as a session"
    )
    add_overrides(replay, "robot.action_delay=0.1 (with --on-robot)")
    replay.set_defaults(func=replay_command)

    sessions = subparsers.add_parser(
        "sessions",
        help="list, show or delete recorded sessions",
        description="List, show or delete the sessions under the sessions folder "
        f"(<root>/<robot_type>/<name>/, default root {DEFAULT_ROOT}). A session is named by its name, "
        "robot_type/name, or an explicit path to a session folder. "
        "Example: sensorimotor sessions list --root saved/sessions",
    )
    _add_root(sessions, default=str(DEFAULT_ROOT))
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="one line per session",
        description="One line per session: robot, name, steps, size, status, start time.",
    )
    _add_root(listing)
    listing.add_argument("--robot", help="only this robot type (default: all)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=sessions_list)
    show = actions.add_parser(
        "show",
        help="metadata, length, action counts and an integrity check",
        description="Print a session's metadata, length and action counts; --check reads every "
        "frame back and compares the step count with the one recorded when the session was closed.",
    )
    _add_root(show)
    show.add_argument("session", help="session name, robot_type/name, or a path")
    show.add_argument("--check", action="store_true", help="read every frame to verify the session")
    show.set_defaults(func=sessions_show)
    delete = actions.add_parser(
        "delete",
        help="delete a session",
        description="Delete one session folder (a name is an exact name, never a pattern). "
        "Folders that are not sessions, symbolic links and sessions being recorded are refused.",
    )
    _add_root(delete)
    delete.add_argument("session", help="session name, robot_type/name, or a path")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=sessions_delete)


def _add_root(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    """``--root``, accepted before or after the ``sessions`` action."""
    parser.add_argument(
        "--root",
        default=default,
        help=f"sessions folder (default: {DEFAULT_ROOT})",
    )


def load_record_config(overrides: list[str]) -> RecordJobConfig:
    """The ``record`` job config with seeds resolved."""
    config = load_config("robots", "record", overrides, RecordJobConfig)
    resolve_seeds(config.seed, config.robot, config.selector)
    return config


def record_command(args: argparse.Namespace) -> int:
    config = load_record_config(args.overrides)
    stats = run_record_job(config)
    return 0 if stats.steps or config.steps == 0 else 1


def run_record_job(config: RecordJobConfig) -> RunStats:
    """Build the robot and selector of ``config``, run them, print a summary."""
    from sensorimotor.core.rundir import environment_info

    robot = config.robot.make()
    try:
        selector = config.selector.make(robot.action_space)
    except BaseException:
        robot.cleanup()
        raise
    runner = RobotRunner(
        robot,
        selector,
        steps=config.steps,
        record_to=config.sessions_root if config.record else None,
        session_name=config.session_name,
        disk_budget_gb=config.disk_budget_gb,
        session_config={**config_to_dict(config), "environment": environment_info(config.seed)},
        interactive=config.interactive,
        progress=config.progress,
    )
    stats = runner.run()
    print_stats(stats)
    return stats


def print_stats(stats: RunStats) -> None:
    """A short human summary of a run."""
    reason = {
        "steps": "done",
        "interrupt": "stopped by Ctrl-C",
        "exhausted": "nothing left to replay",
        "user": "stopped by the user",
        "connection_lost": "connection to the robot lost",
    }
    print(
        f"{stats.steps} steps in {stats.total_seconds:.2f} s ({stats.steps_per_second:.0f} steps/s; "
        f"step p50 {stats.step_seconds_p50 * 1e3:.2f} ms, p95 {stats.step_seconds_p95 * 1e3:.2f} ms) — {reason[stats.stopped_by]}"
    )
    if stats.action_counts:
        print("actions: " + ", ".join(f"{k}: {v}" for k, v in stats.action_counts.items()))
    if stats.overrides:
        print(f"actions overridden by hand: {stats.overrides}")
    if stats.session is not None:
        print(f"session: {stats.session}")


def replay_command(args: argparse.Namespace) -> int:
    reader = SessionReader(find_session(args.session, args.root))
    if args.on_robot:
        return _replay_on_robot(reader, args)
    if args.overrides:
        raise UserError("config overrides only apply with --on-robot")
    frames: list[np.ndarray] = []

    def collect(event: StepEvent) -> None:
        if args.export:
            if args.key not in event.observation:
                raise UserError(
                    f"observation has no key {args.key!r}; it has {sorted(event.observation)}"
                )
            frames.append(event.observation[args.key])

    robot = ReplayRobot(reader)
    selector = RecordedSelector(reader)
    stats = RobotRunner(robot, selector, steps=len(selector.actions), on_step=collect).run()
    if args.export:  # the observations after the last action (the outcome of the last step)
        frames.extend(reader.frame(i, args.key) for i in range(len(frames), len(reader)))
    print_stats(stats)
    recorded = reader.timestamps()
    if len(recorded) > 1:
        print(
            f"recorded: {len(reader)} steps over {recorded[-1] - recorded[0]:.1f} s ({'complete' if reader.complete else 'interrupted'})"
        )
    if robot.mismatched_actions:
        print(
            f"warning: {robot.mismatched_actions} actions differed from the recording",
            file=sys.stderr,
        )
    if args.export:
        path = export_frames(frames, Path(args.export), args.fps)
        print(f"exported {len(frames)} frames to {path}")
    return 0


def _replay_on_robot(reader: SessionReader, args: argparse.Namespace) -> int:
    saved = reader.metadata.get("config") or {}
    if "robot" not in saved:
        raise UserError(
            f"{reader.path}: the session does not store its robot config, so it cannot be re-run"
        )
    saved = {
        k: v for k, v in saved.items() if k in {f for f in RecordJobConfig.__dataclass_fields__}
    }
    config = config_from_dict(RecordJobConfig, saved)
    config = apply_overrides(config, args.overrides)
    robot = config.robot.make()
    matches, compared = 0, 0

    def compare(event: StepEvent) -> None:
        nonlocal matches, compared
        if event.step < len(reader) and "image" in event.observation:
            compared += 1
            matches += bool(
                np.array_equal(event.observation["image"], reader.frame(event.step, "image"))
            )

    runner = RobotRunner(
        robot,
        RecordedSelector(reader),
        record_to=config.sessions_root if args.record else None,
        session_config={**config_to_dict(config), "replay_of": str(reader.path)},
        on_step=compare,
    )
    stats = runner.run()
    print_stats(stats)
    if compared:
        print(f"frames identical to the recording: {matches}/{compared}")
    return 0


def export_frames(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    """Write frames as an animated GIF, an MP4 (needs imageio-ffmpeg) or a folder of PNGs."""
    from PIL import Image

    if not frames:
        raise UserError("no frames to export")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(
            path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
        )
    elif suffix == ".mp4":
        try:
            from sensorimotor.sim.render import save_video
        except ImportError:
            raise UserError(
                "MP4 export needs MuJoCo and imageio: pip install -e '.[sim]'"
            ) from None
        save_video(frames, path, fps)
    elif suffix == "":
        path.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(path / f"{i:06d}.png")
    else:
        raise UserError(f"--export {path}: expected a .gif or .mp4 file or a folder")
    return path


def sessions_list(args: argparse.Namespace) -> int:
    infos = list_sessions(args.root, args.robot)
    rows = [
        {
            "robot": s.robot_type,
            "session": s.name,
            "steps": s.steps,
            "size": format_bytes(s.size_bytes),
            "status": s.status,
            "started": s.start_time[:19].replace("T", " "),
        }
        for s in infos
    ]
    if args.json:
        print(
            json.dumps(
                [
                    {**r, "path": str(s.path), "size_bytes": s.size_bytes}
                    for r, s in zip(rows, infos, strict=True)
                ],
                indent=2,
            )
        )
    elif not rows:
        print(f"no sessions under {args.root}")
    else:
        print_table(rows, ["robot", "session", "steps", "size", "status", "started"])
    return 0


def sessions_show(args: argparse.Namespace) -> int:
    reader = SessionReader(find_session(args.session, args.root))
    meta = reader.metadata
    times = reader.timestamps()
    info: dict[str, Any] = {
        "path": str(reader.path),
        "robot_type": reader.robot_type,
        "steps": len(reader),
        "status": reader.status if "end_time" in meta else "interrupted or still recording",
        "started": meta.get("start_time"),
        "duration_s": round(float(times[-1] - times[0]), 3) if len(times) > 1 else 0.0,
        "frames": reader.image_keys,
        "action_space": meta["action_space"],
        "action_counts": action_counts(reader.actions(), reader.action_space),
        "robot_config": meta.get("robot_config", {}),
    }
    for key, value in info.items():
        print(f"{key:>13}: {json.dumps(value) if isinstance(value, dict | list) else value}")
    if args.check:
        from tqdm import tqdm

        for i in tqdm(range(len(reader)), desc="checking frames", unit="step"):
            reader.observation(i)
        if reader.missing_steps:
            raise UserError(
                f"{reader.path}: steps.jsonl holds {len(reader)} steps but the session was closed "
                f"with {len(reader) + reader.missing_steps} (the file was cut short)"
            )
        print(f"all {len(reader)} steps read back intact")
    return 0


def sessions_delete(args: argparse.Namespace) -> int:
    path = find_session(args.session, args.root, allow_corrupt=True)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"refusing to delete {path} without confirmation; pass --yes")
        if input(f"delete {path}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 0
    delete_session(path, args.root)
    print(f"deleted {path}")
    return 0
