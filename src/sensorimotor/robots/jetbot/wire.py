"""What the JetBot server and client agree on: frame encoding, the secret handshake, RPyC settings.

Frames travel as JPEG (small; lossy) or PNG (lossless) bytes and are decoded to ``uint8 (H, W, 3)``.

The handshake runs on the raw socket before RPyC speaks, so a client without the secret never
reaches the service: the server sends ``MAGIC + nonce`` (32 random bytes), the client answers
``HMAC-SHA256(secret, MAGIC + nonce)``, the server replies ``OK`` or closes the connection. The
secret itself never crosses the network, and a recorded answer is useless for another nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.errors import UserError

DEFAULT_PORT = 18861
MAGIC = b"SMJETBOT1"
NONCE_BYTES = 32
ENCODINGS = ("jpeg", "png")

#: RPyC settings on both ends: only ``exposed_`` names are reachable, nothing is pickled, and the
#: peer's custom exception classes are never imported or instantiated.
PROTOCOL_CONFIG: dict[str, Any] = {
    "allow_public_attrs": False,
    "allow_all_attrs": False,
    "allow_setattr": False,
    "allow_delattr": False,
    "allow_pickle": False,
    "import_custom_exceptions": False,
    "instantiate_custom_exceptions": False,
    "instantiate_oldstyle_exceptions": False,
}


class AuthenticationFailed(ConnectionError):
    """The peer did not prove it knows the shared secret (or the server wants none)."""


def encode_frame(image: np.ndarray, encoding: str = "jpeg", quality: int = 90) -> bytes:
    """``uint8 (H, W, 3)`` → JPEG or PNG bytes."""
    if encoding == "png":
        from sensorimotor.robots.recording import encode_png

        return encode_png(np.ascontiguousarray(image))
    if encoding != "jpeg":
        raise ValueError(f"frame encoding must be one of {ENCODINGS}, got {encoding!r}")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def decode_frame(data: bytes, source: str = "frame") -> np.ndarray:
    """JPEG/PNG bytes → ``uint8 (H, W, 3)``; a clear error naming ``source`` when they are not an image."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, bytes):
        raise ValueError(f"{source}: expected encoded image bytes, got {type(data).__name__}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(
            f"{source}: {len(data)} bytes that are not a JPEG/PNG image ({e})"
        ) from None


def read_secret(path: str | Path | None) -> bytes | None:
    """The shared secret in ``path`` (surrounding whitespace stripped); None without a path."""
    if path is None or str(path) == "":
        return None
    path = Path(path).expanduser()
    try:
        secret = path.read_bytes().strip()
    except OSError as e:
        raise UserError(f"secret file {path}: cannot read it ({e.strerror})") from None
    if len(secret) < 8:
        raise UserError(f"secret file {path}: the secret has {len(secret)} bytes; use at least 8")
    return secret


def _answer(secret: bytes, challenge: bytes) -> bytes:
    return hmac.new(secret, challenge, hashlib.sha256).digest()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = b""
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise AuthenticationFailed("the peer closed the connection during the handshake")
        chunks += chunk
    return chunks


def server_handshake(sock: socket.socket, secret: bytes, timeout: float = 5.0) -> None:
    """Challenge the client; raise :class:`AuthenticationFailed` (after telling it) on a wrong answer."""
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        challenge = MAGIC + os.urandom(NONCE_BYTES)
        sock.sendall(challenge)
        answer = _recv_exact(sock, hashlib.sha256().digest_size)
        if not hmac.compare_digest(answer, _answer(secret, challenge)):
            sock.sendall(b"NO")
            raise AuthenticationFailed("wrong shared secret")
        sock.sendall(b"OK")
    except TimeoutError:
        raise AuthenticationFailed("no answer to the challenge in time") from None
    finally:
        sock.settimeout(previous)


def client_handshake(sock: socket.socket, secret: bytes, timeout: float = 5.0) -> None:
    """Answer the server's challenge; raise :class:`AuthenticationFailed` when it is refused."""
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        try:
            challenge = _recv_exact(sock, len(MAGIC) + NONCE_BYTES)
        except TimeoutError:
            raise AuthenticationFailed(
                "the server sent no challenge: it runs without a secret (no --secret-file), "
                "or it is not a sensorimotor JetBot server"
            ) from None
        if not challenge.startswith(MAGIC):
            raise AuthenticationFailed("the server is not a sensorimotor JetBot server")
        sock.sendall(_answer(secret, challenge))
        if _recv_exact(sock, 2) != b"OK":
            raise AuthenticationFailed("the server refused the shared secret")
    finally:
        sock.settimeout(previous)
