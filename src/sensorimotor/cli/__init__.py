"""The ``sensorimotor`` command line: one entry point, a subcommand per job.

Exit codes: 0 success, 1 failure (a bug or a failed job; a traceback is printed), 2 bad usage or
bad input (one line naming what was expected), 130 interrupted outside a job's own Ctrl-C handling.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from sensorimotor.core.errors import UserError

#: Modules under ``sensorimotor.cli`` that each define ``register(subparsers)``.
COMMANDS = [
    "run",
    "robots",
    "sim",
    "sequence",
    "canvas",
    "rl",
    "explore",
    "diagnose",
    "jetbot",
    "convert",
    "so101",
    "vla",
]

EPILOG = """\
Config overrides use Hydra syntax: pick a group option with `group=option` (robot=toroidal_dot)
and set any key with a dotted path (robot.dot_radius=7, selector.max_duration=20).
Exit codes: 0 ok, 1 failure, 2 bad usage or input."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="sensorimotor",
        description="Learn robot world models and policies from interaction.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"sensorimotor.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sensorimotor")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
