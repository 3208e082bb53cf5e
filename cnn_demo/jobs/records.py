"""What a job is on disk: states, messages, JSON files, ids, liveness, ownership and the scan of every job folder."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnn_demo.errors import InputError
from cnn_demo.settings import Settings

log = logging.getLogger("cnn_demo.jobs")

#: Modules that register job kinds; workers import them before running a job. Add yours here.
JOB_MODULES: tuple[str, ...] = (
    "cnn_demo.finetune",
    "cnn_demo.applications.unet",
    "cnn_demo.applications.localization",
    "cnn_demo.applications.person_segmenter",
    "cnn_demo.applications.person_detector",
)

#: States a job can be in. ``interrupted``: its worker stopped without finishing (resumable).
STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")

ACTIVE_STATES = ("queued", "running")

FINAL_STATES = ("done", "failed", "cancelled", "interrupted")

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

HEARTBEAT_EVERY_S = 2.0

#: Re-queues of one job after worker restarts that do not count against ``CNN_DEMO_AUTO_RESUME``.
MAX_RESTART_RESUMES = 3

CRASH_MESSAGE = (
    "The job stopped because of an error inside the app, not because of your settings or data. Resume it to try "
    "again; if it stops again, tell your teacher the reference {ref}."
)

QUEUE_LOST_MESSAGE = (
    "The job queue lost this job (the server's queue was reset) and it could not be queued again. Resume it to "
    "try again."
)

NOT_FOUND = (
    "There is no job with this id (any more): finished jobs are deleted after a few days, or the link is incomplete."
)

NOT_YOURS = (
    "This job was started in another browser or under another sign-in, so it is not shown here. "
    "If it is yours, enter the recovery code you were given when you started it."
)

#: Wrong recovery codes accepted per job before it refuses further tries.
RECOVERY_TRIES = 10

_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: easy to read out and type


class NotYourJob(InputError):
    """The job exists but belongs to another identity; its recovery code opens it (:func:`claim`)."""


class JobCancelled(Exception):
    """Raised inside a job (by :meth:`JobContext.progress`) once the user has asked to cancel it."""


# --------------------------------------------------------------------------- files


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line half-written when a worker died
    return out


def _check_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _ID_RE.match(job_id):
        raise InputError(NOT_FOUND)
    return job_id


def _folder(settings: Settings, job_id: str) -> Path:
    return settings.jobs_dir / _check_id(job_id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that nobody reaped yet is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _heartbeat_age(folder: Path) -> float:
    try:
        return time.time() - (folder / "heartbeat").stat().st_mtime
    except OSError:
        return float("inf")


def _worker_lost(st: dict[str, Any], folder: Path, settings: Settings) -> bool:
    """True when a job marked running has no live worker any more."""
    if st.get("state") != "running":
        return False
    if st.get("host") == socket.gethostname() and st.get("pid") and not _pid_alive(int(st["pid"])):
        return True
    return _heartbeat_age(folder) > settings.heartbeat_timeout_s


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job, as shown to its owner."""

    job_id: str
    kind: str
    state: str
    done: int
    total: int
    created: float
    started: float | None
    finished: float | None
    queue_position: int | None
    eta_s: float | None
    metrics: list[dict[str, Any]]
    result: dict[str, Any] | None
    error: str | None
    params: dict[str, Any]
    resumes: int
    log_tail: list[str]
    phase: str = ""

    @property
    def fraction(self) -> float:
        """Progress between 0 and 1."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ACTIVE_STATES

    @property
    def resumable(self) -> bool:
        """Interrupted or cancelled jobs can continue from their last checkpoint."""
        return self.state in ("interrupted", "cancelled", "failed")


def _scan(settings: Settings) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """Every job folder with its params and (effective) status."""
    root = settings.jobs_dir
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not _ID_RE.match(folder.name):
            continue
        params = _read_json(folder / "params.json")
        st = _read_json(folder / "status.json")
        if not params or not st:
            continue
        if _worker_lost(st, folder, settings):
            st = {**st, "state": "interrupted"}
        yield folder, params, st


def _is_owner(folder: Path, params: dict[str, Any], owner: str) -> bool:
    """Whether ``owner`` submitted the job, or opened it in another browser with its recovery code."""
    if not owner:
        return False
    owners = [str(params.get("owner", "")), *(_read_json(folder / "owners.json", []) or [])]
    return any(secrets.compare_digest(str(o), str(owner)) for o in owners)


def _owned(settings: Settings, job_id: str, owner: str) -> tuple[Path, dict[str, Any]]:
    folder = _folder(settings, job_id)
    params = _read_json(folder / "params.json")
    if not params:
        raise InputError(NOT_FOUND)
    if not _is_owner(folder, params, owner):
        raise NotYourJob(NOT_YOURS)
    return folder, params


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def _tail(path: Path, n: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []
