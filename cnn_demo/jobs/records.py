"""What a job is on disk: states, messages, JSON files, ids, liveness, ownership and the scan of every job folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
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
from cnn_demo.jobs.tombstones import REMOVED_BY_TEACHER, removed_by_teacher
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
#: ``damaged``: its files cannot be read (see :data:`DAMAGED_MESSAGE`); it can only be deleted.
STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted", "damaged")

ACTIVE_STATES = ("queued", "running")

FINAL_STATES = ("done", "failed", "cancelled", "interrupted", "damaged")

#: A valid job id (also the name of its folder): anything else is refused as "not found", never a path.
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

#: A file name a page may ask for inside a job folder: no separators, so it cannot leave the folder.
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

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

DISK_FULL_MESSAGE = (
    "The server's disk was full, so this job could not save its work. Resume it later; if it happens again, tell "
    "your teacher."
)

NOT_FOUND = (
    "There is no job with this id (any more): finished jobs are deleted after a few days, or the link is incomplete."
)

NOT_YOURS = (
    "This job was started in another browser or under another sign-in, so it is not shown here. "
    "If it is yours, enter the recovery code you were given when you started it."
)

#: Wrong recovery codes accepted from one identity per job (and per code) before it refuses its further tries.
RECOVERY_TRIES = 10

#: Letters of a recovery code: no 0/O, 1/I/L, U, so it is easy to read out and type.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


class NotYourJob(InputError):
    """The job exists but belongs to another identity; its recovery code opens it (:func:`claim`)."""


class JobCancelled(Exception):
    """Raised inside a job (by :meth:`JobContext.progress`) once the user has asked to cancel it."""


# --------------------------------------------------------------------------- files

#: Largest JSON record read from a job folder (status, params, codes); a bigger one is damaged, never read.
JSON_LIMIT = 1_000_000
#: Largest ``result.json`` read (a job's result: figures, per-class numbers).
RESULT_LIMIT = 32_000_000
#: Bytes read from the end of a log or a metrics file: a page shows the last lines only.
TAIL_BYTES = 64_000
METRICS_BYTES = 4_000_000

#: The state of a job whose files cannot be read (shown to its owner; it can be deleted, nothing else).
DAMAGED_MESSAGE = (
    "This job's files on the server are damaged ({file}), so it can neither be shown nor resumed. Delete it and "
    "start it again."
)


class _Damaged:
    """The value read from a file that exists but is not what it must be (see :func:`load_json`)."""

    def __repr__(self) -> str:
        return "DAMAGED"


DAMAGED: Any = _Damaged()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (a temporary file renamed): a reader never sees half a record."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk leaves no half-written file behind
            tmp.unlink()
        raise


def load_json(path: Path, limit: int = JSON_LIMIT) -> Any:
    """The JSON value in ``path``; ``None`` when there is no such file, :data:`DAMAGED` when it cannot be read as
    JSON of at most ``limit`` bytes (truncated, binary, nested too deeply for the parser, too big)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return DAMAGED
    if len(data) > limit:
        return DAMAGED
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return DAMAGED


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON value in ``path``, or ``default`` when it is absent or damaged."""
    value = load_json(path)
    return default if value is None or value is DAMAGED else value


def _tail_bytes(path: Path, limit: int) -> bytes:
    """The last ``limit`` bytes of ``path`` from the start of a line (b"" when absent)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            data = f.read(limit)
    except OSError:
        return b""
    if size > limit:
        data = data.partition(b"\n")[2]  # the first line is cut: drop it
    return data


def read_jsonl(path: Path, limit: int = METRICS_BYTES) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file (its last ``limit`` bytes); other lines are skipped."""
    out: list[dict[str, Any]] = []
    for line in _tail_bytes(path, limit).splitlines():
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line half-written when a worker died
        if isinstance(row, dict):
            out.append(row)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_STATUS_NUMBERS = (
    "done",
    "total",
    "pid",
    "resumes",
    "auto_resumes",
    "restart_resumes",
    "run_start_done",
    "phase_start_done",
    "rate_start_done",
    "queued_at",
    "started",
    "finished",
    "updated",
    "run_started",
    "phase_started",
    "rate_started",
)


def read_status(folder: Path) -> Any:
    """The job's ``status.json`` as a dict whose fields have their types; ``None`` if absent, else
    :data:`DAMAGED`."""
    raw = load_json(folder / "status.json")
    if raw is None or raw is DAMAGED:
        return raw
    if not isinstance(raw, dict) or raw.get("state") not in STATES or raw.get("state") == "damaged":
        return DAMAGED
    if any(raw.get(k) is not None and not _number(raw[k]) for k in _STATUS_NUMBERS):
        return DAMAGED
    if any(raw.get(k) is not None and not isinstance(raw[k], str) for k in ("error", "phase", "host", "ref")):
        return DAMAGED
    return raw


def read_params(folder: Path) -> Any:
    """The job's ``params.json`` as a dict (kind, params, owner, client, created); ``None`` if absent, else
    :data:`DAMAGED`."""
    raw = load_json(folder / "params.json")
    if raw is None or raw is DAMAGED:
        return raw
    if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str) or not isinstance(raw.get("owner"), str):
        return DAMAGED
    if not isinstance(raw.get("params"), dict) or not _number(raw.get("created")):
        return DAMAGED
    if raw.get("client") is not None and not isinstance(raw["client"], str):
        return DAMAGED
    return raw


def read_owners(folder: Path) -> list[str]:
    """Those who opened the job with its recovery code (``owners.json``); an unreadable list opens it to no one."""
    raw = load_json(folder / "owners.json")
    if not isinstance(raw, list):
        return []
    return [o for o in raw if isinstance(o, str) and o]


def owner_key(owner: str) -> str:
    """The hash naming an owner's folder in the index (owners are identity tokens, never stored as names)."""
    return hashlib.sha256(f"cnn-demo-owner:{owner}".encode()).hexdigest()[:32]


def check_id(job_id: str) -> str:
    """``job_id`` if it is a valid id, else :class:`InputError` (:data:`NOT_FOUND`): ids come from users."""
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise InputError(NOT_FOUND)
    return job_id


def job_dir(settings: Settings, job_id: str) -> Path:
    """The folder of job ``job_id`` (its id checked first, so it never names a path outside the jobs folder)."""
    return settings.jobs_dir / check_id(job_id)


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


def worker_lost(st: dict[str, Any], folder: Path, settings: Settings) -> bool:
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


def damaged_status(file: str) -> dict[str, Any]:
    """The effective status of a job whose ``file`` cannot be read."""
    return {"state": "damaged", "error": DAMAGED_MESSAGE.format(file=file)}


def scan_jobs(settings: Settings) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """Every job folder with its params and (effective) status; a damaged one has ``{}`` for params it cannot
    read and a ``damaged`` status, so callers never meet a file they cannot use."""
    root = settings.jobs_dir
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not JOB_ID_RE.match(folder.name):
            continue
        params, st = read_params(folder), read_status(folder)
        if params is None or st is None:
            continue  # being created or deleted right now
        if params is DAMAGED or st is DAMAGED:
            yield (
                folder,
                {} if params is DAMAGED else params,
                damaged_status("params.json" if params is DAMAGED else "status.json"),
            )
            continue
        if worker_lost(st, folder, settings):
            st = {**st, "state": "interrupted"}
        yield folder, params, st


def is_owner(folder: Path, params: dict[str, Any], owner: str) -> bool:
    """Whether ``owner`` submitted the job, or opened it in another browser with its recovery code."""
    if not owner:
        return False
    owners = [str(params.get("owner", "")), *read_owners(folder)]
    return any(secrets.compare_digest(str(o), str(owner)) for o in owners)


def owner_marker(settings: Settings, owner: str, job_id: str) -> Path:
    """The index file recording that ``owner`` may see ``job_id`` (written by the server only)."""
    return settings.state_dir / "job-index" / "owners" / owner_key(owner) / job_id


def owned_job(settings: Settings, job_id: str, owner: str) -> tuple[Path, dict[str, Any]]:
    """The folder and params of one of ``owner``'s jobs. Params that cannot be read come back as ``{}`` when the
    index says the job is ``owner``'s (it is then damaged: shown as such, and it can be deleted)."""
    folder = job_dir(settings, job_id)
    params = read_params(folder)
    if params is DAMAGED and owner and owner_marker(settings, owner, job_id).is_file():
        return folder, {}
    if not params or params is DAMAGED:
        gone = not params and owner and removed_by_teacher(settings, job_id, owner_key(owner))
        raise InputError(REMOVED_BY_TEACHER if gone else NOT_FOUND)
    if not is_owner(folder, params, owner):
        raise NotYourJob(NOT_YOURS)
    return folder, params


def folder_bytes(folder: Path) -> int:
    """Bytes the files under ``folder`` take (links not followed; files vanishing meanwhile count nothing)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def format_mb(n: float) -> str:
    """``n`` bytes as whole megabytes, for messages to students ("12 MB")."""
    return f"{n / 1e6:.0f} MB"


def tail_lines(path: Path, n: int = 20) -> list[str]:
    """The last ``n`` lines of a log, read from its last :data:`TAIL_BYTES` only (a log may grow without bound)."""
    return _tail_bytes(path, TAIL_BYTES).decode("utf-8", errors="replace").splitlines()[-n:]
