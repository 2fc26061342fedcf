"""``sensorimotor run``: the main job.

Until the canvas world model lands this runs the recording demo: the toroidal-dot robot driven by
the random-duration selector, recorded as a session.
"""

from __future__ import annotations

import argparse

from sensorimotor.cli.common import add_overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the main job (for now: record the toroidal-dot robot under a random-duration policy)",
        description="Run the main job. Any robot or selector option is a config override, e.g. "
        "sensorimotor run steps=500 robot.dot_radius=7",
    )
    add_overrides(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensorimotor.cli.robots import load_record_config, run_record_job

    run_record_job(load_record_config(args.overrides))
    return 0
