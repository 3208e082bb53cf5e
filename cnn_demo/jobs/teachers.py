"""Who is the teacher: listed sign-ins (``CNN_DEMO_TEACHERS``), or whoever knows the teacher password.

With sign-in (``st.login``, or an authenticating proxy) the operator lists the teachers' e-mail addresses, OpenID
subjects or proxy user names. Without sign-in there is one teacher password, set by the operator with
``python -m cnn_demo teacher-password``; the server keeps only its scrypt hash (``<state>/teacher-password``, mode
0600, or ``CNN_DEMO_TEACHER_PASSWORD_HASH``). Wrong passwords are limited like recovery codes: per identity and per
address, counted under a lock before the password is compared, for :data:`TRIES_WINDOW_S` after the first wrong one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from cnn_demo.errors import InputError
from cnn_demo.jobs.admission import admission_lock
from cnn_demo.jobs.records import owner_key, read_json, write_json
from cnn_demo.settings import Settings

#: Shortest teacher password accepted.
MIN_PASSWORD = 10
#: Wrong passwords from one identity, and from one address (a class behind one NAT), within the window.
TRIES_PER_IDENTITY = 5
TRIES_PER_ADDRESS = 20
TRIES_WINDOW_S = 15 * 60.0
#: scrypt's cost: about 50 ms and 16 MB per check, which also slows guessing.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

TOO_MANY = (
    "Too many wrong teacher passwords were entered from this browser or network. Wait a quarter of an hour and try "
    "again."
)
NO_PASSWORD = "No teacher password is set on this server. Ask the person who runs it to set one."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` of ``password`` with a random salt; :class:`InputError` when it is too short."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"The teacher password must be at least {MIN_PASSWORD} characters long.")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (a :func:`hash_password` value) was made from."""
    try:
        name, n, r, p, salt, digest = stored.strip().split("$")
        if name != "scrypt" or not (2 <= int(n) <= 2**20 and 1 <= int(r) <= 32 and 1 <= int(p) <= 16):
            return False
        expected = _unb64(digest)
        given = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected), maxmem=2**27
        )
    except (ValueError, TypeError):
        return False
    return secrets.compare_digest(given, expected)


def password_file(s: Settings) -> Path:
    """Where :func:`set_password` keeps the hash."""
    return s.state_dir / "teacher-password"


def set_password(s: Settings, password: str) -> Path:
    """Store the hash of a new teacher password (readable by the server's account only); returns the file."""
    value = hash_password(password)
    s.state_dir.mkdir(parents=True, exist_ok=True)
    path = password_file(s)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        (s.state_dir / "teacher-tries.json").unlink()  # a new password: every count starts again
    return path


def remove_password(s: Settings) -> bool:
    """Forget the stored teacher password; returns whether there was one."""
    try:
        password_file(s).unlink()
    except FileNotFoundError:
        return False
    return True


def stored_hash(s: Settings) -> str | None:
    """The teacher password's hash in force: ``CNN_DEMO_TEACHER_PASSWORD_HASH``, else the stored one."""
    if s.teacher_password_hash:
        return s.teacher_password_hash
    try:
        value = password_file(s).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value or None


def check_password(s: Settings, password: str, identity: str, client: str | None) -> bool:
    """Whether ``password`` is the teacher password, for ``identity`` (an owner id) from ``client`` (an address
    key). Raises :class:`InputError` when no password is set, or after too many wrong ones from there."""
    stored = stored_hash(s)
    if not stored:
        raise InputError(NO_PASSWORD)
    keys = {"id:" + owner_key(identity): TRIES_PER_IDENTITY}
    if client:
        keys["address:" + client] = TRIES_PER_ADDRESS
    path = s.state_dir / "teacher-tries.json"
    with admission_lock(s, "teacher"):
        now = time.time()
        raw = read_json(path, {})
        tries = {
            k: v
            for k, v in (raw.items() if isinstance(raw, dict) else ())
            if isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int | float) for x in v)
            and now - v[1] < TRIES_WINDOW_S
        }
        if any(tries.get(k, [0, now])[0] >= limit for k, limit in keys.items()):
            raise InputError(TOO_MANY)
        if verify_password(password, stored):
            tries.pop("id:" + owner_key(identity), None)
            ok = True
        else:
            for k in keys:
                count, since = tries.get(k, [0, now])
                tries[k] = [count + 1, since]
            ok = False
        with contextlib.suppress(OSError):
            write_json(path, tries)
    return ok


def listed_teacher(s: Settings, names: Iterable[str | None]) -> bool:
    """Whether any of ``names`` (a signed-in user's e-mail, subject, proxy user name) is in ``CNN_DEMO_TEACHERS``."""
    listed = {t.casefold() for t in s.teachers}
    return any(name and name.strip().casefold() in listed for name in names)
