"""Background jobs: long work (training) runs in worker processes, never in a page script.

The queue is Huey: SQLite storage under the state folder by default, Redis when ``CNN_DEMO_REDIS_URL``
is set (then workers may run on other machines that mount the same state folder). Everything a user
cares about lives in a *job folder* on disk, so it survives worker crashes and server restarts::

    <state>/jobs/<job id>/params.json    kind, parameters, owner, creation time (written once)
                          status.json    state, progress, timings, error (rewritten atomically)
                          metrics.jsonl  one JSON object per progress report that carried metrics
                          result.json    what the job function returned
                          checkpoint.pt  the last resumable state (``JobContext.save_checkpoint``)
                          heartbeat      touched every few seconds while a worker runs the job
                          inputs/        files handed over at submission (an uploaded dataset, ...)

A job function is registered with :func:`register` and receives its parameters and a
:class:`JobContext`. A worker whose heartbeat stops (killed, machine lost) leaves its job
``interrupted``; the surviving workers re-queue it a bounded number of times and the user can resume
it from the last checkpoint. Job ids are unguessable and a user only sees the jobs they submitted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnn_demo.errors import InputError
from cnn_demo.settings import Settings, get_settings

log = logging.getLogger("cnn_demo.jobs")

#: Modules that register job kinds; workers import them before running a job. Add yours here.
JOB_MODULES: tuple[str, ...] = ("cnn_demo.finetune", "cnn_demo.unet", "cnn_demo.localization")

#: States a job can be in. ``interrupted``: its worker stopped without finishing (resumable).
STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")

JobFunction = Callable[[dict[str, Any], "JobContext"], dict[str, Any]]
_REGISTRY: dict[str, JobFunction] = {}
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


def register(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator registering ``fn(params, ctx) -> dict`` as the job function for ``kind``."""
    if not re.match(r"^[a-z][a-z0-9_]{0,40}$", kind):
        raise ValueError(f"job kind {kind!r} must be lower_snake_case")

    def deco(fn: JobFunction) -> JobFunction:
        _REGISTRY[kind] = fn
        return fn

    return deco


def load_job_modules(settings: Settings | None = None) -> dict[str, JobFunction]:
    """Import :data:`JOB_MODULES` and ``settings.extra_job_modules`` (they register kinds); return the registry."""
    s = settings or get_settings()
    for name in (*JOB_MODULES, *s.extra_job_modules):
        importlib.import_module(name)
    return dict(_REGISTRY)


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
    out = []
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


def _worker_lost(status: dict[str, Any], folder: Path, settings: Settings) -> bool:
    """True when a job marked running has no live worker any more."""
    if status.get("state") != "running":
        return False
    if status.get("host") == socket.gethostname() and status.get("pid") and not _pid_alive(int(status["pid"])):
        return True
    return _heartbeat_age(folder) > settings.heartbeat_timeout_s


# --------------------------------------------------------------------------- context


@dataclass
class JobContext:
    """What a job function gets besides its parameters: its folder, progress reporting, checkpoints."""

    job_id: str
    folder: Path
    settings: Settings
    _status: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def inputs(self) -> Path:
        """The folder with the files handed over at submission."""
        return self.folder / "inputs"

    def cancelled(self) -> bool:
        """Whether the user asked to cancel this job (check it between steps)."""
        return (self.folder / "cancel").exists()

    def progress(self, done: int, total: int, metrics: dict[str, Any] | None = None, phase: str = "") -> None:
        """Report ``done`` of ``total`` steps, optionally with metrics (appended to the history).

        ``phase`` names what the steps are when a job has several kinds of them (the fine-tuning job reports
        ``"features"``, images whose features are extracted, then ``"epochs"``); the time left is estimated from
        the rate measured in the current phase only, so a slow first phase does not inflate the next one's ETA.
        Raises :class:`JobCancelled` when the user asked to cancel, so a loop that reports progress
        is cancellable without extra code.
        """
        now = time.time()
        if metrics is not None:
            row = {"step": int(done), "time": now, **metrics}
            with open(self.folder / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row, default=float) + "\n")
        if phase != self._status.get("phase", ""):
            self._status.update(phase=phase, phase_started=now, phase_start_done=int(done))
            self._status.pop("rate_started", None)
        elif "rate_started" not in self._status and int(done) > int(self._status.get("phase_start_done", 0)):
            # The first step of a phase carries its warm-up (first batch, caches): rates are measured after it.
            self._status.update(rate_started=now, rate_start_done=int(done))
        self._status.update(done=int(done), total=int(total), updated=now)
        _write_json(self.folder / "status.json", self._status)
        if self.cancelled():
            raise JobCancelled()

    def log(self, message: str) -> None:
        """Append a line to the job's log (shown on the page)."""
        with open(self.folder / "log.txt", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def metrics(self) -> list[dict[str, Any]]:
        """The metric history so far (after a resume: the rows written before the interruption)."""
        return _read_jsonl(self.folder / "metrics.jsonl")

    def save_checkpoint(self, state: dict[str, Any], step: int) -> None:
        """Save a resumable state (tensors, numbers, strings, lists, dicts) reached after ``step`` steps."""
        import torch

        tmp = self.folder / ".checkpoint.pt.tmp"
        torch.save({"step": int(step), "state": state}, tmp)
        os.replace(tmp, self.folder / "checkpoint.pt")

    def load_checkpoint(self) -> tuple[dict[str, Any], int] | None:
        """The last saved ``(state, step)``, or ``None`` on a fresh start.

        Metric rows written after that checkpoint (the epoch the worker died in) are dropped so the
        history continues cleanly.
        """
        import torch

        path = self.folder / "checkpoint.pt"
        if not path.exists():
            return None
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a checkpoint cut short by the crash: start again
            self.log("The last checkpoint could not be read; starting from the beginning.")
            return None
        step = int(ckpt["step"])
        rows = [r for r in self.metrics() if int(r.get("step", 0)) <= step]
        tmp = self.folder / ".metrics.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, default=float) + "\n" for r in rows))
        os.replace(tmp, self.folder / "metrics.jsonl")
        return ckpt["state"], step


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


# --------------------------------------------------------------------------- queue


@functools.lru_cache(maxsize=8)
def _queue(state_dir: str, redis_url: str | None):
    """The Huey instance and its single task for these settings (cached: Huey objects are heavy)."""
    from huey import RedisHuey, SqliteHuey

    if redis_url:
        huey = RedisHuey("cnn_demo", url=redis_url, results=False)
    else:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey("cnn_demo", filename=str(Path(state_dir) / "queue.sqlite3"), results=False)

    @huey.task(name="cnn_demo.run_job")
    def run_job_task(job_id: str) -> None:
        die_with_parent()
        run_job(job_id)

    return huey, run_job_task


def get_huey(settings: Settings | None = None):
    """The Huey queue configured by ``settings`` (SQLite or Redis)."""
    s = settings or get_settings()
    return _queue(str(s.state_dir), s.redis_url)[0]


def _enqueue(settings: Settings, job_id: str) -> None:
    try:
        _queue(str(settings.state_dir), settings.redis_url)[1](job_id)
    except Exception as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("The job queue is not reachable right now; please try again in a minute.") from exc


def _scan(settings: Settings) -> Iterator[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """Every job folder with its params and (effective) status."""
    root = settings.jobs_dir
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not _ID_RE.match(folder.name):
            continue
        params = _read_json(folder / "params.json")
        status = _read_json(folder / "status.json")
        if not params or not status:
            continue
        if _worker_lost(status, folder, settings):
            status = {**status, "state": "interrupted"}
        yield folder, params, status


def _queued_order(settings: Settings) -> list[str]:
    rows = [(s.get("queued_at", p.get("created", 0)), f.name) for f, p, s in _scan(settings) if s["state"] == "queued"]
    return [name for _, name in sorted(rows)]


def _check_shares(s: Settings, owner: str, client: str | None, incoming: int, disk: bool = True) -> None:
    """Refuse a new job (or a resumed one: ``disk=False``) when its user's or address's share is used up."""
    jobs_all = list(_scan(s))
    active = [(p, st) for _, p, st in jobs_all if st["state"] in ACTIVE_STATES]
    mine = [p for p, _ in active if secrets.compare_digest(str(p.get("owner", "")), owner)]
    if len(mine) >= s.jobs_per_user:
        raise InputError(
            f"You already have {len(mine)} job(s) queued or running (the limit is {s.jobs_per_user}). "
            "Wait for one to finish or cancel it."
        )
    same_client = [p for p, _ in active if client and p.get("client") == client]
    if len(same_client) >= s.jobs_per_address:
        raise InputError(
            f"{len(same_client)} job(s) from your network address are already queued or running (the limit for one "
            f"address is {s.jobs_per_address}, so that everyone in the class gets a turn). Wait for one to finish. "
            "Another browser, a private window or cleared cookies count as the same address."
        )
    if len(active) >= s.queue_capacity:
        raise InputError(
            f"The training queue is full ({len(active)} jobs waiting or running). Please try again in a few minutes."
        )
    if not disk:
        return
    user_limit, client_limit = s.disk_per_user_mb * 1e6, s.disk_per_address_mb * 1e6
    used_user = sum(_folder_bytes(f) for f, p, _ in jobs_all if secrets.compare_digest(str(p.get("owner", "")), owner))
    if used_user + incoming > user_limit:
        raise InputError(
            f"Your stored jobs take {_mb(used_user)} and this one brings {_mb(incoming)}, more than the "
            f"{_mb(user_limit)} each user may keep. Delete finished jobs you no longer need (the Delete button under "
            f"a job), or wait: finished jobs are deleted after {s.artifact_hours:g} hours."
        )
    if client:
        used_client = sum(_folder_bytes(f) for f, p, _ in jobs_all if p.get("client") == client)
        if used_client + incoming > client_limit:
            raise InputError(
                f"Jobs from your network address store {_mb(used_client)} and this one brings {_mb(incoming)}, "
                f"more than the {_mb(client_limit)} one address may keep. Delete finished jobs you no longer need, "
                f"or wait: finished jobs are deleted after {s.artifact_hours:g} hours."
            )


def submit(
    kind: str,
    params: dict[str, Any],
    owner: str,
    files: dict[str, bytes] | None = None,
    settings: Settings | None = None,
    *,
    client: str | None = None,
) -> str:
    """Queue a job of ``kind`` for ``owner``; return its unguessable id.

    ``files`` are written to the job's ``inputs/`` folder (names without folders). ``client`` is the
    :func:`client_key` of the address it came from: fair shares hold per user *and* per address, so new
    identities (cleared cookies, private windows) do not give one person more of the queue or the disk.
    Raises :class:`InputError` when the queue, a quota or a disk share is full, or ``params`` is not JSON.
    """
    s = settings or get_settings()
    if not owner:
        raise InputError("Jobs need an owner.")
    if kind not in load_job_modules(s):
        raise InputError(f"Unknown job kind {kind!r}.")
    try:
        params_json = json.loads(json.dumps(params))
    except (TypeError, ValueError) as exc:
        raise InputError("Job parameters must be plain numbers, strings, lists and dicts.") from exc
    _check_shares(s, owner, client, sum(len(b) for b in (files or {}).values()))
    for name in files or {}:
        if not _NAME_RE.match(name) or name.startswith("."):
            raise InputError(f"Bad input file name {name!r}.")
    job_id = secrets.token_urlsafe(16)
    folder = s.jobs_dir / job_id
    try:
        (folder / "inputs").mkdir(parents=True)
        for name, data in (files or {}).items():
            (folder / "inputs" / name).write_bytes(data)
        now = time.time()
        record = {"kind": kind, "params": params_json, "owner": owner, "client": client, "created": now}
        _write_json(folder / "params.json", record)
        _write_json(folder / "status.json", {"state": "queued", "done": 0, "total": 0, "queued_at": now, "resumes": 0})
        _enqueue(s, job_id)
    except BaseException as exc:
        # A refused submit leaves nothing behind: no folder holding the uploaded dataset, no job in the list.
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError):
            raise InputError("The server has no room to store this job right now; please try again later.") from exc
        raise
    return job_id


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


def _code_hash(code: str) -> str:
    return hashlib.sha256(b"cnn-demo-recovery:" + code.encode()).hexdigest()


def _normalise_code(code: str) -> str:
    return "".join(c for c in str(code).upper() if c.isalnum())


def new_recovery_code(job_id: str, owner: str, settings: Settings | None = None) -> str:
    """A fresh recovery code for one of ``owner``'s jobs (the previous one stops working); only its hash is stored.

    With the job's link and this code the job opens in any other browser or device (:func:`claim`).
    """
    s = settings or get_settings()
    folder, _ = _owned(s, job_id, owner)
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))  # 30**16: about 78 bits
    _write_json(folder / "recovery.json", {"hash": _code_hash(code), "failures": 0})
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


def claim(job_id: str, code: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """Open a job started elsewhere with its recovery code: ``owner`` may see, cancel and resume it from now on.

    After :data:`RECOVERY_TRIES` wrong codes the job refuses further tries, so codes cannot be guessed.
    """
    s = settings or get_settings()
    folder = _folder(s, job_id)
    params = _read_json(folder / "params.json")
    if not params:
        raise InputError(NOT_FOUND)
    if not owner:
        raise InputError("Jobs need an owner.")
    if _is_owner(folder, params, owner):
        return _snapshot(s, folder, params, None)
    record = _read_json(folder / "recovery.json") or {}
    failures = int(record.get("failures", 0))
    if not record.get("hash") or failures >= RECOVERY_TRIES:
        raise InputError(
            "This job cannot be opened with a recovery code any more (too many wrong codes). "
            "Open it in the browser that started it and ask for a new code there."
        )
    given = _normalise_code(code)
    if not given or not secrets.compare_digest(_code_hash(given), str(record["hash"])):
        record["failures"] = failures + 1
        _write_json(folder / "recovery.json", record)
        left = RECOVERY_TRIES - failures - 1
        raise InputError(f"That recovery code does not belong to this job. Check it and try again ({left} tries left).")
    owners = _read_json(folder / "owners.json", []) or []
    _write_json(folder / "owners.json", [*owners, owner])
    return _snapshot(s, folder, params, None)


def delete(job_id: str, owner: str, settings: Settings | None = None) -> None:
    """Delete one of ``owner``'s finished jobs with everything it stored (frees their disk quota)."""
    s = settings or get_settings()
    folder, params = _owned(s, job_id, owner)
    if _snapshot(s, folder, params, None).active:
        raise InputError("Cancel this job before deleting it.")
    shutil.rmtree(folder, ignore_errors=True)


def client_key(address: str | None) -> str | None:
    """A stable key for a client address (IPv6: its /64, what one household or phone gets); ``None`` if unknown.

    Only this hash is stored with a job, never the address itself.
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    net = ipaddress.ip_network(f"{ip}/64", strict=False) if ip.version == 6 else ipaddress.ip_network(ip)
    return hashlib.sha256(f"cnn-demo-client:{net}".encode()).hexdigest()[:24]


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


def _snapshot(settings: Settings, folder: Path, params: dict[str, Any], order: list[str] | None) -> JobStatus:
    status = _read_json(folder / "status.json", {}) or {}
    state = status.get("state", "queued")
    if _worker_lost(status, folder, settings):
        state = "interrupted"
    done, total = int(status.get("done", 0)), int(status.get("total", 0))
    eta = None
    started = status.get("phase_started") or status.get("run_started")
    if state == "running" and started and total:
        ran = done - int(status.get("phase_start_done", status.get("run_start_done", 0)))
        since_warm = done - int(status.get("rate_start_done", done))
        if status.get("rate_started") and since_warm > 0:
            eta = max(0.0, (time.time() - status["rate_started"]) / since_warm * (total - done))
        elif ran > 0:
            eta = max(0.0, (time.time() - started) / ran * (total - done))
    position = None
    if state == "queued":
        order = order if order is not None else _queued_order(settings)
        position = order.index(folder.name) + 1 if folder.name in order else len(order) + 1
    error = status.get("error")
    if state == "interrupted" and not error:
        error = "The worker running this job stopped (crash or restart). Resume it to continue from its last epoch."
    return JobStatus(
        job_id=folder.name,
        kind=params.get("kind", ""),
        state=state,
        done=done,
        total=total,
        created=float(params.get("created", 0)),
        started=status.get("started"),
        finished=status.get("finished"),
        queue_position=position,
        eta_s=eta,
        metrics=_read_jsonl(folder / "metrics.jsonl"),
        result=_read_json(folder / "result.json") if state == "done" else None,
        error=error,
        params=params.get("params", {}),
        resumes=int(status.get("resumes", 0)),
        log_tail=_tail(folder / "log.txt"),
        phase=str(status.get("phase", "")),
    )


def status(job_id: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """The current state of one of ``owner``'s jobs; :class:`InputError` for anyone else's or unknown ids."""
    s = settings or get_settings()
    folder, params = _owned(s, job_id, owner)
    return _snapshot(s, folder, params, None)


def list_jobs(owner: str, settings: Settings | None = None) -> list[JobStatus]:
    """``owner``'s jobs, newest first."""
    s = settings or get_settings()
    order = _queued_order(s)
    out = [_snapshot(s, f, p, order) for f, p, _ in _scan(s) if _is_owner(f, p, owner)]
    return sorted(out, key=lambda j: j.created, reverse=True)


def job_folder(job_id: str, owner: str, settings: Settings | None = None) -> Path:
    """The folder one of ``owner``'s jobs writes its files into (previews, predictions); :class:`InputError` else."""
    s = settings or get_settings()
    folder, _ = _owned(s, job_id, owner)
    return folder


def job_file(job_id: str, owner: str, name: str, settings: Settings | None = None) -> Path | None:
    """Path of a file the job wrote into its folder (e.g. an exported model), or ``None`` if absent."""
    s = settings or get_settings()
    folder, _ = _owned(s, job_id, owner)
    if not _NAME_RE.match(name) or name.startswith("."):
        raise InputError(f"Bad file name {name!r}.")
    path = folder / name
    return path if path.is_file() else None


def cancel(job_id: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next progress report."""
    s = settings or get_settings()
    folder, params = _owned(s, job_id, owner)
    (folder / "cancel").touch()
    st = _read_json(folder / "status.json", {}) or {}
    if st.get("state") == "queued":
        st.update(state="cancelled", finished=time.time())
        _write_json(folder / "status.json", st)
    return _snapshot(s, folder, params, None)


def _requeue(settings: Settings, folder: Path, automatic: bool, restart: bool = False) -> None:
    st = _read_json(folder / "status.json", {}) or {}
    st.update(state="queued", queued_at=time.time(), resumes=int(st.get("resumes", 0)) + 1, error=None)
    st.pop("pid", None)
    if automatic:
        st["auto_resumes"] = int(st.get("auto_resumes", 0)) + 1
    if restart:
        st["restart_resumes"] = int(st.get("restart_resumes", 0)) + 1
    with contextlib.suppress(FileNotFoundError):
        (folder / "cancel").unlink()
    _write_json(folder / "status.json", st)
    _enqueue(settings, folder.name)


def resume(job_id: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """Queue an interrupted, cancelled or failed job again; it continues from its last checkpoint."""
    s = settings or get_settings()
    folder, params = _owned(s, job_id, owner)
    snap = _snapshot(s, folder, params, None)
    if not snap.resumable:
        raise InputError(f"This job is {snap.state}; only interrupted, cancelled or failed jobs can be resumed.")
    _check_shares(s, str(params.get("owner", "")), params.get("client"), 0, disk=False)  # resuming is a new turn
    _requeue(s, folder, automatic=False)
    return _snapshot(s, folder, params, None)


# --------------------------------------------------------------------------- worker side


def _heartbeat(folder: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            (folder / "heartbeat").touch()
        stop.wait(HEARTBEAT_EVERY_S)


def run_job(job_id: str, settings: Settings | None = None) -> str:
    """Run one queued job in this process (what a worker does); returns its final state."""
    s = settings or get_settings()
    folder = _folder(s, job_id)
    params = _read_json(folder / "params.json")
    st = _read_json(folder / "status.json")
    if not params or not st:
        log.warning("job %s has no folder any more; skipped", job_id)
        return "missing"
    if st.get("state") != "queued" or (folder / "cancel").exists():
        if st.get("state") == "queued":
            st.update(state="cancelled", finished=time.time())
            _write_json(folder / "status.json", st)
        return str(st.get("state"))
    # The queue may deliver one job twice (a task re-enqueued after the queue lost it, see reconcile_queue):
    # exactly one delivery per queuing runs it.
    claim = folder / f".run-{st.get('queued_at', 0)}"
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return "duplicate"
    now = time.time()
    st.update(
        state="running",
        host=socket.gethostname(),
        pid=os.getpid(),
        started=st.get("started") or now,
        run_started=now,
        run_start_done=int(st.get("done", 0)),
        phase="",
        phase_started=now,
        phase_start_done=int(st.get("done", 0)),
        error=None,
    )
    st.pop("rate_started", None)  # a rate measured by an earlier run (before a resume) says nothing about this one
    (folder / "heartbeat").touch()
    _write_json(folder / "status.json", st)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(folder, stop), daemon=True)
    beat.start()
    ctx = JobContext(job_id, folder, s, st)
    try:
        import torch

        torch.set_num_threads(s.torch_threads)
        fn = load_job_modules(s).get(params["kind"])
        if fn is None:
            raise InputError(f"This worker does not know jobs of kind {params['kind']!r}.")
        ctx.log(f"started (attempt {int(st.get('resumes', 0)) + 1})")
        result = fn(params["params"], ctx)
        _write_json(folder / "result.json", result or {})
        st.update(state="done", done=max(int(st.get("done", 0)), int(st.get("total", 0))))
        ctx.log("finished")
    except JobCancelled:
        st.update(state="cancelled")
        ctx.log("cancelled")
    except InputError as exc:
        st.update(state="failed", error=str(exc))
        ctx.log(f"failed: {exc}")
    except Exception:
        # The details (exception text, paths, host) go to the worker's log for the operator, never to the page.
        ref = secrets.token_hex(4)
        st.update(state="failed", error=CRASH_MESSAGE.format(ref=ref))
        ctx.log(f"stopped by an internal error (reference {ref})")
        log.error("job %s crashed (reference %s):\n%s", job_id, ref, traceback.format_exc())
    finally:
        stop.set()
        beat.join(timeout=5)
    st.update(finished=time.time(), updated=time.time())
    _write_json(folder / "status.json", st)
    return str(st["state"])


def recover(settings: Settings | None = None, *, restart: bool = False) -> list[str]:
    """Mark jobs whose worker died as interrupted and re-queue each up to ``auto_resume`` times.

    ``restart=True`` is a worker starting up (``serve`` restarting it, a server reboot): the jobs it finds cut off
    by the stop are re-queued without using up their automatic resumes, which are meant for jobs that keep
    crashing their worker. Safe to run from several workers at once: a claim file makes exactly one of them
    re-queue a job. Returns the ids re-queued.
    """
    s = settings or get_settings()
    requeued = []
    for folder, _, st in _scan(s):
        if st["state"] != "interrupted":
            continue
        raw = _read_json(folder / "status.json", {}) or {}
        was_running = raw.get("state") == "running"
        if was_running:
            raw.update(state="interrupted", finished=time.time())
            _write_json(folder / "status.json", raw)
            with contextlib.suppress(OSError):
                (folder / "log.txt").open("a").write(f"{time.strftime('%H:%M:%S')} worker lost\n")
        if (folder / "cancel").exists():
            continue
        # A job cut off by a restart continues for free, a few times: one that keeps killing its worker is
        # then counted like any crash, so it cannot make serve restart its worker forever.
        free = restart and was_running and int(raw.get("restart_resumes", 0)) < MAX_RESTART_RESUMES
        if not free and int(raw.get("auto_resumes", 0)) >= s.auto_resume:
            continue
        claim = folder / f".requeue-{int(raw.get('resumes', 0))}"
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        _requeue(s, folder, automatic=not free, restart=free)
        requeued.append(folder.name)
        log.info("re-queued interrupted job %s%s", folder.name, " (worker restart)" if restart else "")
    return requeued


def _pending_ids(settings: Settings) -> set[str]:
    """Job ids waiting in the Huey queue right now."""
    return {str(task.args[0]) for task in get_huey(settings).pending() if getattr(task, "args", None)}


def reconcile_queue(settings: Settings | None = None, grace_s: float = 30.0) -> list[str]:
    """Queue again every job marked queued that the queue no longer holds; return their ids.

    The job folder is the record and the queue only a delivery mechanism: a deleted SQLite file or a Redis restart
    without persistence loses the tasks, and those jobs would otherwise wait at "position 1" forever, holding their
    owners' slots. Jobs queued less than ``grace_s`` ago are left alone (a worker may have just taken the task);
    a job delivered twice runs once (``run_job`` claims it). If the queue cannot be reached, nothing is changed here;
    if it refuses the job, the job fails with a message.
    """
    s = settings or get_settings()
    try:
        pending = _pending_ids(s)
    except Exception:
        log.warning("the job queue could not be read; queued jobs not checked", exc_info=True)
        return []
    now = time.time()
    fixed = []
    for folder, params, st in _scan(s):
        if st["state"] != "queued" or folder.name in pending or (folder / "cancel").exists():
            continue
        if now - float(st.get("queued_at") or params.get("created") or 0) < grace_s:
            continue
        if (folder / f".run-{st.get('queued_at', 0)}").exists():
            continue  # taken by a worker a moment ago, which is writing its running status
        try:
            _enqueue(s, folder.name)
        except InputError:
            raw = _read_json(folder / "status.json", {}) or {}
            raw.update(state="failed", finished=time.time(), error=QUEUE_LOST_MESSAGE)
            _write_json(folder / "status.json", raw)
            continue
        with contextlib.suppress(OSError):
            (folder / "log.txt").open("a").write(
                f"{time.strftime('%H:%M:%S')} the job queue had lost this job; it is queued again\n"
            )
        fixed.append(folder.name)
        log.warning("job %s was missing from the queue; re-enqueued", folder.name)
    return fixed


def cleanup_expired(settings: Settings | None = None) -> list[str]:
    """Delete finished job folders (and cached features, and uploaded datasets not opened since) older than
    ``artifact_hours``; returns the job ids removed."""
    s = settings or get_settings()
    limit = time.time() - s.artifact_hours * 3600
    removed = []
    # Uploaded datasets (cnn_demo.datasets.cleanup_store, written out here: this runs in the watchdog thread, and an
    # import there could hold a module lock while Huey forks a job process, which would then hang importing it).
    stores = s.state_dir / "datasets"
    for stored in stores.iterdir() if stores.is_dir() else ():
        with contextlib.suppress(OSError):
            if stored.stat().st_mtime >= limit:
                continue
            if stored.is_dir():
                shutil.rmtree(stored, ignore_errors=True)
            elif stored.name.startswith(".lock-"):
                stored.unlink()
    for cached in (s.state_dir / "feature-cache").glob("*.pt"):
        with contextlib.suppress(OSError):
            if cached.stat().st_mtime < limit:
                cached.unlink()
    for folder, params, st in _scan(s):
        if st["state"] in ACTIVE_STATES:
            continue
        when = st.get("finished") or st.get("updated") or params.get("created", 0)
        if when and float(when) < limit:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def _watchdog(settings: Settings, stop: threading.Event) -> None:
    every = max(0.5, min(10.0, settings.heartbeat_timeout_s / 3))
    last_cleanup = 0.0
    while not stop.is_set():
        try:
            recover(settings)
            reconcile_queue(settings)
            if time.time() - last_cleanup > 600:
                cleanup_expired(settings)
                last_cleanup = time.time()
        except Exception:
            log.exception("watchdog pass failed")
        stop.wait(every)


AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")
AUTOGROUP_SELF = Path("/proc/self/autogroup")


def autogroup_enabled() -> bool:
    """Whether Linux groups this machine's sessions for CPU sharing (autogroup), so niceness stops at a session."""
    try:
        return AUTOGROUP_SWITCH.read_text().strip() == "1" and AUTOGROUP_SELF.exists()
    except OSError:
        return False


def lower_priority(nice: int) -> str:
    """Lower this process's CPU priority by ``nice`` steps (its job processes inherit it); returns what was done.

    Plain niceness only ranks processes within one scheduling group. Where Linux's autogroup is on (most
    desktops, and this project's VMs), every session is such a group and the groups share the CPU equally
    whatever their niceness: a worker in a session of its own would get as much CPU as the whole web server.
    So a worker that leads its own session (``serve`` starts it that way) lowers its group as well.
    """
    if nice <= 0 or not hasattr(os, "nice"):
        return "normal CPU priority"
    os.nice(nice)
    if not autogroup_enabled():
        return f"nice {nice}"
    if os.getsid(0) != os.getpid():
        return (
            f"nice {nice}, inside the scheduling group of the session that started it; start the worker in a "
            "session of its own (setsid, a service manager, or `serve`) so it yields to the web server too"
        )
    try:
        AUTOGROUP_SELF.write_text(str(nice))
    except OSError as exc:
        return f"nice {nice}; its session's scheduling group could not be lowered: {exc}"
    return f"nice {nice}, and its session's scheduling group at nice {nice}"


@functools.cache
def die_with_parent() -> bool:
    """Have the kernel kill this process when its parent dies (Linux); True when arranged.

    A worker runs jobs in child processes; if the worker itself is killed outright (``kill -9``, the OOM killer)
    those would go on training with nobody to report to, outliving ``serve``. Called once per job process.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def _exit_with_parent(parent_pid: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.info("the process that started this one (pid %d) is gone; stopping", parent_pid)
            os.kill(os.getpid(), signal.SIGTERM)
            return


def stop_with_parent(parent_pid: int, stop: threading.Event | None = None) -> threading.Thread:
    """SIGTERM this process (a clean stop: jobs are interrupted, to resume later) once ``parent_pid`` is gone.

    ``serve`` passes its pid to the worker and the web server it starts, so that neither outlives it, even when
    it is killed outright and cannot clean up. Polls once a second until ``stop`` is set.
    """
    thread = threading.Thread(
        target=_exit_with_parent, args=(parent_pid, stop or threading.Event()), daemon=True, name="cnn-demo-parent"
    )
    thread.start()
    return thread


def run_worker(settings: Settings | None = None, parent_pid: int | None = None) -> None:
    """Run a Huey consumer (``max_concurrent_jobs`` worker processes) plus the recovery watchdog, until stopped.

    With ``parent_pid`` the worker stops when that process (``serve``) is gone, even if it was killed outright.
    """
    from huey.consumer import Consumer

    s = settings or get_settings()
    s.jobs_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    priority = lower_priority(s.worker_nice)
    huey = get_huey(s)
    try:  # before the watchdog's first pass, which would count these as automatic resumes
        restarted = recover(s, restart=True)
        lost = reconcile_queue(s, grace_s=0.0)
        if restarted or lost:
            log.info(
                "start-up: %d interrupted job(s) re-queued, %d lost from the queue re-enqueued",
                len(restarted),
                len(lost),
            )
    except Exception:
        log.exception("start-up recovery failed")
    stop = threading.Event()

    class _Consumer(Consumer):
        def start(self) -> None:
            # Our threads start once the worker processes are forked: a fork while the watchdog holds the
            # queue's storage lock would leave the child waiting on that lock forever, never taking a job.
            super().start()
            threading.Thread(target=_watchdog, args=(s, stop), daemon=True, name="cnn-demo-watchdog").start()
            if parent_pid is not None:
                stop_with_parent(parent_pid, stop)

        def _create_process(self, process, name):
            # Each worker and the scheduler die with the consumer, from their start: one waiting for a job must
            # not outlive a consumer killed outright (it would go on taking jobs from the queue).
            initialize = process.initialize

            def _initialize() -> None:
                die_with_parent()
                initialize()

            process.initialize = _initialize
            return super()._create_process(process, name)

    log.info(
        "worker: queue %s, %d job(s) at once, %s",
        s.redis_url or s.state_dir / "queue.sqlite3",
        s.max_concurrent_jobs,
        priority,
    )
    try:
        _Consumer(huey, workers=s.max_concurrent_jobs, worker_type="process", periodic=False).run()
    finally:
        stop.set()
