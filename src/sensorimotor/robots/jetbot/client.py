"""``JetBotRobot`` (``robot=jetbot``): a JetBot served by ``sensorimotor jetbot serve``, over RPyC.

Observation: ``image``, the camera frame as ``uint8 (H, W, 3)`` (JPEG or PNG on the wire).
Actions: duration actions ``{"motor_left", "motor_right", "duration"}``; the server ramps the
motors up and down and stops them after ``duration`` seconds. The default action space is
``[(0, 0), (0, 0.12)]``: stay, or turn on the right motor (the robot pivots left).

A dropped connection is retried ``reconnect_attempts`` times with doubling waits; after that
:class:`~sensorimotor.robots.interface.RobotConnectionLost` ends the run cleanly. An action whose
call was cut off is not resent after reconnecting (it may already have moved the robot).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import rpyc
from rpyc.core.stream import SocketStream

from sensorimotor.core.config import config_to_dict
from sensorimotor.core.errors import DataError, UserError
from sensorimotor.robots.config import RobotConfig
from sensorimotor.robots.interface import (
    Action,
    ActionSpace,
    Observation,
    Robot,
    RobotConnectionLost,
)
from sensorimotor.robots.jetbot.motors import MAX_DURATION_S, check_command
from sensorimotor.robots.jetbot.wire import (
    DEFAULT_PORT,
    ENCODINGS,
    PROTOCOL_CONFIG,
    AuthenticationFailed,
    client_handshake,
    decode_frame,
    read_secret,
)

#: What a broken transport raises (a timeout is a ``TimeoutError``, itself an ``OSError``).
_TRANSPORT_ERRORS = (EOFError, OSError)
#: The service's exposed methods (see :mod:`.service`).
_METHODS = ("info", "get_frame", "drive", "set_motors", "reset", "stop", "status")


@dataclass
class JetBotConfig(RobotConfig):
    """Where the JetBot server is, the frame size and encoding, the action set and reconnect policy."""

    type: str = "jetbot"
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    width: int = 224
    height: int = 224
    encoding: str = "jpeg"
    jpeg_quality: int = 90
    actions: list[list[float]] = field(default_factory=lambda: [[0.0, 0.0], [0.0, 0.12]])
    duration: float = 0.3
    secret_file: str | None = None
    timeout_s: float = 5.0
    connect_timeout_s: float = 3.0
    reconnect_attempts: int = 3
    reconnect_backoff_s: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.width <= 1280 and 0 < self.height <= 1280):
            raise ValueError(f"robot.width/height must be 1..1280, got {self.width}x{self.height}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"robot.encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if not self.actions:
            raise ValueError("robot.actions must list at least one [motor_left, motor_right] pair")
        for pair in self.actions:
            if len(pair) != 2:
                raise ValueError(
                    f"robot.actions entries must be [motor_left, motor_right], got {pair}"
                )
            check_command(float(pair[0]), float(pair[1]))
        check_command(0.0, 0.0, self.duration)
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0 or self.reconnect_backoff_s < 0:
            raise ValueError("robot.timeout_s and connect_timeout_s must be > 0, backoff >= 0")
        if self.reconnect_attempts < 0:
            raise ValueError(
                f"robot.reconnect_attempts must be >= 0, got {self.reconnect_attempts}"
            )

    def make(self) -> JetBotRobot:
        return JetBotRobot(self)


class JetBotRobot(Robot):
    """The workstation side of a JetBot; see the module docstring."""

    robot_type = "jetbot"

    def __init__(self, config: JetBotConfig | None = None, **overrides: Any) -> None:
        config = config or JetBotConfig()
        if overrides:
            config = JetBotConfig(**{**config_to_dict(config), **overrides})
        self.config = config
        self.address = f"{config.host}:{config.port}"
        self._secret = read_secret(config.secret_file)
        self._conn: Any = None
        self._methods: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self._actions = [
            {
                "motor_left": float(left),
                "motor_right": float(right),
                "duration": float(config.duration),
            }
            for left, right in config.actions
        ]
        try:
            self._connect()
        except AuthenticationFailed as e:
            self.cleanup()
            raise UserError(
                f"JetBot server at {self.address}: {e} (robot.secret_file={config.secret_file})"
            ) from None
        except _TRANSPORT_ERRORS as e:
            self.cleanup()
            hint = (
                ""
                if self._secret
                else "; if the server was started with --secret-file, set robot.secret_file"
            )
            raise UserError(
                f"cannot talk to a JetBot server at {self.address} ({type(e).__name__}: {e}); "
                f"start one with `sensorimotor jetbot serve`{hint}"
            ) from None

    @property
    def action_space(self) -> ActionSpace:
        return [dict(a) for a in self._actions]

    def _connect(self) -> None:
        cfg = self.config
        stream = SocketStream.connect(
            cfg.host,
            cfg.port,
            timeout=cfg.connect_timeout_s,
            attempts=1,
            nodelay=True,
            keepalive=True,
        )
        try:
            if self._secret is not None:
                client_handshake(stream.sock, self._secret, cfg.connect_timeout_s)
            config = {**PROTOCOL_CONFIG, "sync_request_timeout": cfg.connect_timeout_s}
            conn = rpyc.connect_stream(stream, service=rpyc.VoidService, config=config)
            # Look the methods up once: a lookup is a round trip of its own, which would double
            # the wait on a server that stopped answering. Answering here also proves it is alive.
            self._methods = {name: getattr(conn.root, name) for name in _METHODS}
            self.server_info = json.loads(self._methods["info"]())
            self._conn = conn
        except BaseException:
            stream.close()
            raise

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the connection is already broken
                conn.close()

    def _call(
        self, name: str, *args: Any, timeout: float | None = None, resend: bool = True
    ) -> Any:
        """``conn.root.<name>(*args)``, reconnecting on a broken transport (see the module docstring)."""
        cause: BaseException = ConnectionError("not connected")
        for _ in range(2):
            if self._conn is None:
                self._reconnect(cause)
            try:
                self._conn._config["sync_request_timeout"] = timeout or self.config.timeout_s
                return self._methods[name](*args)
            except _TRANSPORT_ERRORS as e:
                if hasattr(e, "_remote_tb"):  # raised by the server's code, not the transport
                    raise
                cause = e
                self._reconnect(e)
                if not resend:
                    warnings.warn(
                        f"JetBot at {self.address}: the connection dropped during {name}; the "
                        "action was not resent and may not have completed",
                        stacklevel=3,
                    )
                    return None
        self._close_connection()  # known broken: cleanup() should not wait on it
        raise RobotConnectionLost(
            f"lost the connection to the JetBot at {self.address}: {name} failed again after "
            f"reconnecting ({type(cause).__name__}: {cause})"
        )

    def _reconnect(self, cause: BaseException) -> None:
        """Reconnect with doubling waits; :class:`RobotConnectionLost` when every attempt fails."""
        self._close_connection()
        cfg = self.config
        start = time.monotonic()
        delay = cfg.reconnect_backoff_s
        for attempt in range(1, cfg.reconnect_attempts + 1):
            print(
                f"jetbot: connection to {self.address} lost ({type(cause).__name__}: {cause}); "
                f"reconnecting in {delay:.1f} s (attempt {attempt}/{cfg.reconnect_attempts})",
                file=sys.stderr,
            )
            time.sleep(delay)
            try:
                self._connect()
                print(f"jetbot: reconnected to {self.address}", file=sys.stderr)
                return
            except AuthenticationFailed as e:
                raise RobotConnectionLost(
                    f"JetBot at {self.address} refused to reconnect: {e}"
                ) from e
            except _TRANSPORT_ERRORS as e:
                cause = e
            delay = min(2 * delay, 8.0) if delay else 0.0
        raise RobotConnectionLost(
            f"lost the connection to the JetBot at {self.address} ({type(cause).__name__}: {cause}); "
            f"gave up after {cfg.reconnect_attempts} reconnect attempts in {time.monotonic() - start:.1f} s"
        )

    def get_observation(self) -> Observation:
        """The camera frame as ``{"image": uint8 (H, W, 3)}``."""
        cfg = self.config
        data = self._call("get_frame", cfg.width, cfg.height, cfg.encoding, cfg.jpeg_quality)
        try:
            image = decode_frame(data, f"frame from the JetBot at {self.address}")
        except ValueError as e:
            raise DataError(str(e)) from None
        if image.shape != (cfg.height, cfg.width, 3):
            raise DataError(
                f"frame from the JetBot at {self.address}: expected {(cfg.height, cfg.width, 3)}, "
                f"got {image.shape}"
            )
        return {"image": image}

    def execute_action(self, action: Action) -> None:
        """Run a duration action on the robot; returns when the motors have stopped."""
        try:
            left, right, duration = (
                float(action[k]) for k in ("motor_left", "motor_right", "duration")
            )
            check_command(left, right, duration)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"jetbot: an action is {{'motor_left': [-1, 1], 'motor_right': [-1, 1], 'duration': "
                f"(0, {MAX_DURATION_S}] s}}, got {action!r} ({e})"
            ) from None
        ramp = float(self.server_info.get("ramp_s", 0.1))
        timeout = duration + 2 * ramp + self.config.timeout_s
        self._call("drive", left, right, duration, timeout=timeout, resend=False)

    def reset(self, seed: int | None = None) -> bool:
        """Stop the motors; a simulated JetBot (``--backend sim``) also goes back to its initial
        state, the same every time (its physics has no randomness, so ``seed`` changes nothing).
        The real robot cannot be put back: it stays where it is. Returns whether the world was reset.
        """
        return bool(self._call("reset", timeout=self.config.timeout_s + 2.0))

    def status(self) -> dict[str, Any]:
        """The server's motor commands and backend state (sim: time and pose)."""
        return json.loads(self._call("status"))

    def config_dict(self) -> dict[str, Any]:
        return {**config_to_dict(self.config), "server": self.server_info}

    def cleanup(self) -> None:
        """Stop the motors (best effort, briefly) and close the connection."""
        if self._conn is not None:
            try:
                self._conn._config["sync_request_timeout"] = min(2.0, self.config.timeout_s)
                self._methods["stop"]()
            except Exception:  # noqa: BLE001 - the server stops the motors on disconnect anyway
                pass
        self._close_connection()
