"""Disk shares of uploads: the decoded datasets a user and an address keep in the dataset store count against the same
shares as their job folders (``CNN_DEMO_DISK_PER_USER_MB``, ``CNN_DEMO_DISK_PER_ADDRESS_MB``).

The store (``<state>/datasets/<key>``) is shared by content, so a dataset belongs to everyone who uploaded it: each
of them is charged its full size. ``<state>/upload-holders/`` records who holds what (empty marker files, by owner
hash and by address key); a marker whose dataset has expired is dropped when met. An upload first reserves room
(twice its size: the originals, and decoded pixels where smaller) under the admission lock, so parallel uploads
cannot all pass the check, and holds the dataset it produced afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import time
from pathlib import Path

from cnn_demo.jobs.records import owner_key
from cnn_demo.settings import Settings

#: A reservation left by a process that died is ignored after this long.
RESERVATION_TTL_S = 3600.0
#: A temporary folder of a decode is abandoned after this long at the latest (its process died on another machine).
TEMP_TTL_S = 3600.0
#: This machine, in the names of the store's temporary folders (``.tmp-<key>-<host>-<pid>-<random>``).
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _root(s: Settings) -> Path:
    return s.state_dir / "upload-holders"


def holder_dirs(s: Settings, owner: str | None, client: str | None) -> list[Path]:
    """The marker folders of what ``owner`` and ``client`` (an address key) hold, for those given."""
    out = []
    if owner:
        out.append(_root(s) / "owners" / owner_key(owner))
    if client:
        out.append(_root(s) / "clients" / owner_key(client))
    return out


def store_dir(s: Settings) -> Path:
    """Where uploaded datasets are decoded to (shared by every session and web-server process)."""
    return s.state_dir / "datasets"


def _size(folder: Path) -> int:
    total = 0
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def held_bytes(s: Settings, owner: str | None = None, client: str | None = None) -> int:
    """Bytes of stored uploads (and pending reservations) held by ``owner`` or by ``client``."""
    (folder,) = holder_dirs(s, owner, None) if owner else holder_dirs(s, None, client)
    total = 0
    now = time.time()
    for marker in folder.iterdir() if folder.is_dir() else ():
        try:
            if marker.name.startswith(".reserve-"):
                if now - marker.stat().st_mtime < RESERVATION_TTL_S:
                    total += int(marker.read_text() or 0)
                else:
                    marker.unlink()
                continue
            dataset = store_dir(s) / marker.name
            if dataset.is_dir():
                total += _size(dataset)
            else:
                marker.unlink()  # expired from the store: no longer held
        except (OSError, ValueError):
            continue
    return total


def hold_upload(s: Settings, owner: str, client: str | None, dataset: Path) -> None:
    """Record that ``owner`` (from ``client``) keeps the stored dataset ``dataset`` (a folder of the store)."""
    for folder in holder_dirs(s, owner, client):
        with contextlib.suppress(OSError):  # a full disk: the dataset is there, uncounted until the next upload
            folder.mkdir(parents=True, exist_ok=True)
            (folder / dataset.name).touch()


def abandoned_temporary(folder: Path, now: float | None = None) -> bool:
    """Whether ``folder`` is the temporary folder of a decode whose process is gone (on this machine) or that is
    older than :data:`TEMP_TTL_S`: a server restarted in the middle of an upload leaves one behind."""
    if not folder.name.startswith(".tmp-"):
        return False
    try:
        if (now or time.time()) - folder.stat().st_mtime > TEMP_TTL_S:
            return True
    except OSError:
        return False
    parts = folder.name.rsplit("-", 3)
    if len(parts) != 4 or parts[1] != HOST_TAG or not parts[2].isdigit():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_abandoned(store: Path) -> list[str]:
    """Delete the store's :func:`abandoned_temporary` folders; returns their names."""
    removed = []
    for folder in store.iterdir() if store.is_dir() else ():
        if abandoned_temporary(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
