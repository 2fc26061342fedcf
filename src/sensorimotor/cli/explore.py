"""``sensorimotor explore``: the web app to browse sessions, run and train world models, look inside."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Start the explorer, a local web app (Gradio): browse recorded sessions (metadata, action tables,
every camera of every frame), run the canvas world model over a session with the same online
training as `sensorimotor run` and watch it learn, batch-train and evaluate on a session, sweep
every action at a frame, look at encoder/decoder attention and the weights, and save/load
checkpoints that `sensorimotor run --resume` continues.

It serves on 127.0.0.1 (a free port from 7861 unless --port), never shares a public link unless
--share, and serves files only from the sessions and runs roots. Several explorers can run at once;
each names its checkpoints with its own instance id.

examples:
  sensorimotor explore
  sensorimotor explore --root /data/lab --port 8000
  sensorimotor explore --sessions saved/sessions --runs runs"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="web app: browse sessions, run/train/evaluate world models on them, look inside",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, help="port (default: the first free one from 7861)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--root",
        default=".",
        help="folder holding saved/sessions and runs (default: the current folder)",
    )
    parser.add_argument("--sessions", help="sessions root (default: ROOT/saved/sessions)")
    parser.add_argument("--runs", help="runs root, where checkpoints go (default: ROOT/runs)")
    parser.add_argument("--model", default="canvas", help="world-model kind (default canvas)")
    parser.add_argument(
        "--share", action="store_true", help="also open a public Gradio share link (off by default)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensorimotor.core.errors import UserError
    from sensorimotor.explorer.roots import Roots

    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError(
            "the explorer needs Gradio: pip install -e '.[explorer]' (or pip install gradio)"
        ) from None
    from sensorimotor.explorer.app import launch

    base = Roots.under(args.root)
    roots = Roots(
        Path(args.sessions) if args.sessions else base.sessions,
        Path(args.runs) if args.runs else base.runs,
    )
    if args.port is not None and not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1-65535, got {args.port}")
    launch(roots, host=args.host, port=args.port, share=args.share, kind=args.model)
    return 0
