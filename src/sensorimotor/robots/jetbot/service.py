"""The on-robot server: an RPyC *service* exposing exactly the camera and motor methods.

Security model (a lab network is not trusted):

- only the ``exposed_*`` methods below are reachable; no public attributes, no pickling, no classic
  mode (there is no ``SlaveService`` and no ``getmodule``/``eval``/``execute`` to call);
- arguments are plain numbers and strings and results are bytes, floats or JSON strings, so no
  object references cross the wire in either direction;
- with a shared secret, a client must answer an HMAC challenge before RPyC starts (see
  :mod:`.wire`); the server binds 127.0.0.1 unless told otherwise;
- the motors stop when the client that drove them disconnects, and a held command that is not
  renewed within the watchdog period is ramped down.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import rpyc
from rpyc.utils.authenticators import AuthenticationError
from rpyc.utils.helpers import classpartial
from rpyc.utils.server import ThreadedServer

from sensorimotor.robots.jetbot.motors import MotorController
from sensorimotor.robots.jetbot.wire import (
    DEFAULT_PORT,
    ENCODINGS,
    PROTOCOL_CONFIG,
    AuthenticationFailed,
    encode_frame,
    server_handshake,
)

log = logging.getLogger("sensorimotor.jetbot")
MAX_FRAME_SIDE = 1280


@dataclass
class ServerOptions:
    """How ``sensorimotor jetbot serve`` runs."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    backend: str = "sim"
    secret: bytes | None = None
    ramp_s: float = 0.1
    watchdog_s: float = 0.5
    realtime: bool = False


def _number(value: Any, name: str) -> float:
    """A plain int/float argument; anything else (e.g. a proxy to a client object) is refused."""
    if type(value) not in (int, float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


class JetBotService(rpyc.Service):
    """One instance per connection, sharing the backend and its motor controller."""

    def __init__(self, backend: Any, motors: MotorController, info: dict[str, Any]) -> None:
        super().__init__()
        self._backend = backend
        self._motors = motors
        self._info = info
        self._drove = False

    def on_connect(self, conn: rpyc.Connection) -> None:
        log.info("client connected")

    def on_disconnect(self, conn: rpyc.Connection) -> None:
        if self._drove:  # the driving client is gone: nobody may be left to stop the robot
            self._motors.stop()
            log.info("client that drove the motors disconnected; motors stopped")

    def exposed_info(self) -> str:
        """JSON: backend, ramp and watchdog settings, the protocol version."""
        return json.dumps(self._info)

    def exposed_get_frame(
        self, width: int, height: int, encoding: str = "jpeg", quality: int = 90
    ) -> bytes:
        """The current camera frame at ``width`` x ``height``, encoded as JPEG or PNG bytes."""
        width, height = int(_number(width, "width")), int(_number(height, "height"))
        quality = int(_number(quality, "quality"))
        if not (0 < width <= MAX_FRAME_SIDE and 0 < height <= MAX_FRAME_SIDE):
            raise ValueError(
                f"frame size must be 1..{MAX_FRAME_SIDE} pixels a side, got {width}x{height}"
            )
        if type(encoding) is not str or encoding not in ENCODINGS or not 1 <= quality <= 100:
            raise ValueError(
                f"encoding must be one of {ENCODINGS} with quality 1..100, got {encoding!r}, {quality}"
            )
        return encode_frame(self._backend.frame(width, height), str(encoding), quality)

    def exposed_drive(self, left: float, right: float, duration: float) -> float:
        """Drive ``duration`` seconds with ramps at both ends, then stop; returns the seconds it took."""
        self._drove = True
        start = time.perf_counter()
        self._motors.run_duration(
            _number(left, "left"), _number(right, "right"), _number(duration, "duration")
        )
        return time.perf_counter() - start

    def exposed_set_motors(self, left: float, right: float) -> None:
        """Ease to and hold ``(left, right)``; renew within the watchdog period or the motors stop."""
        self._drove = True
        self._motors.hold(_number(left, "left"), _number(right, "right"))

    def exposed_stop(self) -> None:
        """Ramp both motors down to 0."""
        self._motors.stop()

    def exposed_reset(self) -> bool:
        """Stop the motors, then put a simulated world back to its initial state (the same state
        every time); returns whether the world was reset (False on the real robot: only stopped)."""
        with self._motors.lock:
            self._motors.stop()
            reset = getattr(self._backend, "reset", None)
            if reset is None:
                return False
            reset()
            return True

    def exposed_status(self) -> str:
        """JSON: current motor commands and the backend's state (sim: time and pose)."""
        left, right = self._motors.motors
        return json.dumps({"motor_left": left, "motor_right": right, **self._backend.status()})


def _authenticator(secret: bytes | None) -> Any:
    """Runs on every new socket: no Nagle delay for small replies, then the secret handshake."""

    def authenticate(sock: Any) -> tuple[Any, None]:
        # Without TCP_NODELAY a small reply waits for the client's delayed ACK (~40 ms on Linux).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secret is None:
            return sock, None
        try:
            server_handshake(sock, secret)
        except (AuthenticationFailed, OSError) as e:
            peer = _peer(sock)
            log.warning("refused %s: %s", peer, e)
            raise AuthenticationError(f"{peer}: {e}") from None
        return sock, None

    return authenticate


def _peer(sock: Any) -> str:
    try:
        host, port = sock.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "a client"


class JetBotServer:
    """The backend, its motor controller and the threaded RPyC server around them."""

    def __init__(self, options: ServerOptions, backend: Any) -> None:
        self.options = options
        self.backend = backend
        self.motors = MotorController(backend, options.ramp_s, options.watchdog_s)
        info = {
            "protocol": 1,
            "backend": options.backend,
            "ramp_s": options.ramp_s,
            "watchdog_s": options.watchdog_s,
            "authenticated": options.secret is not None,
        }
        self.server = ThreadedServer(
            classpartial(JetBotService, backend, self.motors, info),
            hostname=options.host,
            port=options.port,
            authenticator=_authenticator(options.secret),
            protocol_config=dict(PROTOCOL_CONFIG),
            logger=log,
        )
        # Listen now (rpyc would only in start()), so the port accepts connections once announced.
        self.server._listen()
        self._closed = threading.Event()

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        return int(self.server.listener.getsockname()[1])

    def serve_forever(self) -> None:
        """Serve until :meth:`close` (or Ctrl-C); the motors are stopped on the way out."""
        try:
            self.server.start()
        finally:
            self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.server.close()
        self.motors.close()
        self.backend.close()
