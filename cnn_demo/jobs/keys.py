"""The server's secret key: what makes identity cookies (and the web server's own request notes) unforgeable.

Generated once per state folder (``<state>/server.key``, 32 random bytes, readable by the server's user only) and
shared by every process that mounts the folder: web servers, replicas and workers. Only the server can then mint a
browser's identity (:func:`sign`); a value it did not sign (guessed, tossed in from another site, signed by another
server) is refused (:func:`verify`). Deleting the file logs every browser out of its jobs (their recovery codes
still open them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from cnn_demo.settings import Settings

KEY_FILE = "server.key"
_KEY_BYTES = 32
_cache: dict[Path, bytes] = {}
_lock = threading.Lock()


def _read(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes().strip()
        key = bytes.fromhex(raw.decode("ascii"))
    except (OSError, ValueError):
        return None
    return key if len(key) >= _KEY_BYTES else None


def server_key(settings: Settings) -> bytes:
    """This server's secret key, created on first use (mode 0600; the first of several processes wins)."""
    path = settings.state_dir / KEY_FILE
    with _lock:
        if path in _cache:
            return _cache[path]
        key = _read(path)
        if key is None:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            try:
                os.write(fd, secrets.token_bytes(_KEY_BYTES).hex().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # atomic and never replaces: of processes starting together, one key wins
            except FileExistsError:
                if _read(path) is None:  # an unreadable key from before: replace it
                    os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
            key = _read(path)
            if key is None:
                raise OSError(f"cannot read the server key {path}")
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # readable by others: only the server's user may read it
        _cache[path] = key
        return key


def sign(settings: Settings, purpose: str, value: str) -> str:
    """``value`` with a signature only this server can make for ``purpose`` (URL- and cookie-safe)."""
    mac = hmac.new(server_key(settings), f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
    return f"{value}.{base64.urlsafe_b64encode(mac[:24]).decode()}"


def verify(settings: Settings, purpose: str, signed: str) -> str | None:
    """The value :func:`sign` signed for ``purpose``; ``None`` for anything else (unsigned, altered, foreign)."""
    if not isinstance(signed, str) or "." not in signed or len(signed) > 8192:
        return None
    value = signed.rsplit(".", 1)[0]
    try:
        expected = sign(settings, purpose, value)
    except OSError:
        return None
    return value if hmac.compare_digest(expected.encode(), signed.encode()) else None
