"""``sensorimotor jetbot serve|feed``: the on-robot RPyC server and a live camera feed."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import time
from pathlib import Path

from sensorimotor.core.errors import UserError

SERVE_DESCRIPTION = """\
Serve a JetBot's camera and motors over RPyC (a service exposing only those methods; no classic
mode, no pickling). Run it on the robot with --backend real, or anywhere with --backend sim (a
MuJoCo JetBot in a coloured arena). Binds 127.0.0.1 unless --host is given; with --secret-file a
client must prove it knows the secret (HMAC challenge) before it can call anything. Motors stop
when the driving client disconnects, and a held command stops after --watchdog seconds.

examples:
  sensorimotor jetbot serve --backend sim
  sensorimotor jetbot serve --backend real --host 0.0.0.0 --secret-file ~/.jetbot-secret"""


def register(subparsers: argparse._SubParsersAction) -> None:
    jetbot = subparsers.add_parser(
        "jetbot", help="JetBot: serve its camera and motors over RPyC, watch its camera"
    )
    actions = jetbot.add_subparsers(dest="jetbot_command", metavar="ACTION", required=True)

    serve = actions.add_parser(
        "serve",
        help="the on-robot server (real JetBot or a MuJoCo simulation of one)",
        description=SERVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--port", type=int, default=18861, help="TCP port; 0 = any free port (default: %(default)s)"
    )
    serve.add_argument(
        "--backend", choices=("real", "sim"), default="sim", help="default: %(default)s"
    )
    serve.add_argument("--secret-file", help="file holding a shared secret clients must know")
    serve.add_argument(
        "--ramp", type=float, default=0.1, help="motor ramp time in seconds (default: %(default)s)"
    )
    serve.add_argument(
        "--watchdog",
        type=float,
        default=0.5,
        help="stop a held motor command not renewed within this many seconds (default: %(default)s)",
    )
    serve.add_argument(
        "--realtime", action="store_true", help="sim: run physics at wall-clock pace"
    )
    serve.add_argument(
        "--width", type=int, default=224, help="real: camera width (default: %(default)s)"
    )
    serve.add_argument(
        "--height", type=int, default=224, help="real: camera height (default: %(default)s)"
    )
    serve.set_defaults(func=serve_command)

    feed = actions.add_parser(
        "feed",
        help="the live camera feed: an OpenCV window, or frames/MP4 when headless",
        description="Show a JetBot server's camera. With a display and OpenCV installed it opens a window "
        "(q quits); otherwise, or with --out, it saves --frames frames as an .mp4/.gif or a PNG folder.",
    )
    feed.add_argument(
        "--host", default="127.0.0.1", help="the server's host (default: %(default)s)"
    )
    feed.add_argument(
        "--port", type=int, default=18861, help="the server's port (default: %(default)s)"
    )
    feed.add_argument("--secret-file", help="file holding the shared secret, if the server has one")
    feed.add_argument("--width", type=int, default=224, help="frame width (default: %(default)s)")
    feed.add_argument("--height", type=int, default=224, help="frame height (default: %(default)s)")
    feed.add_argument(
        "--frames", type=int, default=100, help="frames to save (default: %(default)s)"
    )
    feed.add_argument(
        "--fps", type=float, default=10.0, help="frames per second (default: %(default)s)"
    )
    feed.add_argument("--out", help="save to this .mp4, .gif or folder instead of a window")
    feed.set_defaults(func=feed_command)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve_command(args: argparse.Namespace) -> int:
    from sensorimotor.robots.jetbot.backends import make_backend
    from sensorimotor.robots.jetbot.service import JetBotServer, ServerOptions
    from sensorimotor.robots.jetbot.wire import read_secret

    if args.ramp < 0 or args.watchdog <= 0:
        raise UserError(
            f"--ramp must be >= 0 and --watchdog > 0, got {args.ramp} and {args.watchdog}"
        )
    secret = read_secret(args.secret_file)
    if not _is_loopback(args.host) and secret is None:
        print(
            f"warning: serving on {args.host} without --secret-file: anyone who can reach this port "
            "can drive the robot",
            file=sys.stderr,
        )
    if args.backend == "sim":
        backend = make_backend("sim", realtime=args.realtime)
    else:
        backend = make_backend("real", width=args.width, height=args.height)
    options = ServerOptions(
        host=args.host,
        port=args.port,
        backend=args.backend,
        secret=secret,
        ramp_s=args.ramp,
        watchdog_s=args.watchdog,
        realtime=args.realtime,
    )
    try:
        server = JetBotServer(options, backend)
    except OSError as e:
        backend.close()
        raise UserError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    # SIGTERM (e.g. systemd stopping the service) ends like Ctrl-C: motors stopped, port closed.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    auth = "shared secret required" if secret else "no secret"
    print(
        f"jetbot server ({args.backend}) listening on {args.host}:{server.port} ({auth})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("jetbot server stopped; motors off", flush=True)
    return 0


def feed_command(args: argparse.Namespace) -> int:
    from sensorimotor.robots.jetbot.client import JetBotConfig, JetBotRobot

    if args.frames < 1 or args.fps <= 0:
        raise UserError(f"--frames must be >= 1 and --fps > 0, got {args.frames} and {args.fps}")
    config = JetBotConfig(
        host=args.host,
        port=args.port,
        secret_file=args.secret_file,
        width=args.width,
        height=args.height,
    )
    window = args.out is None and _opencv_window_available()
    if args.out is None and not window:
        raise UserError(
            "no display or OpenCV for a window; pass --out feed.mp4 (or .gif, or a folder)"
        )
    with JetBotRobot(config) as robot:
        if window:
            return _show_window(robot, args.fps)
        frames = []
        for _ in range(args.frames):
            t0 = time.perf_counter()
            frames.append(robot.get_observation()["image"])
            time.sleep(max(0.0, 1.0 / args.fps - (time.perf_counter() - t0)))
    from sensorimotor.cli.robots import export_frames

    path = export_frames(frames, Path(args.out), args.fps)
    print(f"saved {len(frames)} frames from {config.host}:{config.port} to {path}")
    return 0


def _opencv_window_available() -> bool:
    import os

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _show_window(robot: object, fps: float) -> int:  # pragma: no cover - needs a display
    import cv2

    title = f"jetbot {robot.address}"  # type: ignore[attr-defined]
    while True:
        frame = robot.get_observation()["image"]  # type: ignore[attr-defined]
        cv2.imshow(title, frame[..., ::-1])
        if cv2.waitKey(max(1, int(1000 / fps))) & 0xFF == ord("q"):
            break
    cv2.destroyAllWindows()
    return 0
