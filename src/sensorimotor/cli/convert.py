"""``sensorimotor convert``: LeRobot v3.0 datasets to sessions (``lerobot``) and back (``to-lerobot``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert LeRobot v3.0 datasets to sessions and sessions to LeRobot datasets",
        description="Convert between LeRobot v3.0 datasets and sensorimotor sessions.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    lerobot = actions.add_parser(
        "lerobot",
        help="a LeRobot dataset (folder or Hub repo id) -> one session per episode",
        description="Read a LeRobot v3.0 dataset (meta/info.json, episodes, tasks, data parquet, "
        "per-camera MP4) into sessions, one step per discrete action: parameters from the "
        "simple_joint action logs when present, frames matched to actions by the log's "
        "timestamps and anchored on the first frame where the joint moves; without logs, actions "
        "evenly spaced by --action-duration.",
    )
    lerobot.add_argument(
        "source",
        metavar="PATH_OR_REPO_ID",
        help="a dataset folder, or a Hub repo id (needs network)",
    )
    lerobot.add_argument(
        "--cameras",
        nargs="+",
        default=["base_0_rgb", "left_wrist_0_rgb"],
        help="camera keys to keep, in stacking order (default: %(default)s)",
    )
    lerobot.add_argument(
        "--stack-cameras",
        default="vertical",
        choices=["vertical", "horizontal"],
        help="how the cameras form one image (default: %(default)s)",
    )
    lerobot.add_argument("--joint-name", help="the moved joint (default: from the action log)")
    lerobot.add_argument(
        "--action-duration", type=float, help="seconds per action (datasets without logs)"
    )
    lerobot.add_argument(
        "--position-delta", type=float, help="default: from the log, else measured"
    )
    lerobot.add_argument(
        "--robot-type", help="session folder name (default: the dataset's robot_type)"
    )
    lerobot.add_argument("--sessions-root", default="saved/sessions", help="default: %(default)s")
    lerobot.add_argument("--hub-cache", default="saved/lerobot", help="where Hub downloads go")
    lerobot.set_defaults(func=_import)

    export = actions.add_parser(
        "to-lerobot",
        help="sessions -> a LeRobot v3.0 dataset (parquet + MP4 + metadata + stats)",
        description="Write sessions as a LeRobot v3.0 dataset, one episode per session and one "
        "frame per step (fps = 1 / the robot's action duration unless --fps).",
    )
    export.add_argument(
        "items",
        nargs="+",
        metavar="SESSION... OUT",
        help="session names or paths, then the output folder",
    )
    export.add_argument("--fps", type=int, help="frames per second (default: 1 / action duration)")
    export.add_argument("--task", default="", help="task text (default: the robot type)")
    export.add_argument("--sessions-root", default="saved/sessions", help="default: %(default)s")
    export.set_defaults(func=_export)


def _import(args: argparse.Namespace) -> int:
    from sensorimotor.data.lerobot.hub import resolve_dataset
    from sensorimotor.robots.lerobot.import_lerobot import ImportOptions, convert_dataset

    source = resolve_dataset(args.source, args.hub_cache)
    options = ImportOptions(
        cameras=tuple(args.cameras),
        stack=args.stack_cameras,
        joint_name=args.joint_name,
        action_duration=args.action_duration,
        position_delta=args.position_delta,
        robot_type=args.robot_type,
    )
    paths = convert_dataset(source, args.sessions_root, options)
    for path in paths:
        print(f"session: {path}")
    print(f"{len(paths)} session(s) from {source}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from sensorimotor.core.errors import UserError
    from sensorimotor.robots.lerobot.export_lerobot import export_sessions
    from sensorimotor.robots.session import find_session

    if len(args.items) < 2:
        raise UserError("give one or more sessions and then the output folder: SESSION... OUT")
    *sessions, out = args.items
    paths = [find_session(s, args.sessions_root) for s in sessions]
    root = export_sessions(paths, out, fps=args.fps, task=args.task)
    print(f"LeRobot dataset: {root} ({len(paths)} episode(s))")
    return 0
