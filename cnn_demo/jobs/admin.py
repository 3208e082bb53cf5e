"""The teacher's and the operator's view of every job: list, find by a reference, cancel, delete, purge.

Students see only their own jobs (:mod:`~cnn_demo.jobs.api`); these functions see all of them and check no owner,
so only the Teacher page (behind :func:`cnn_demo.ui.teacher.is_teacher`) and the command line
(``python -m cnn_demo jobs ...``) call them. They read the job folders, never the queue, so they work the same with
SQLite and Redis, and a damaged folder is listed as ``damaged`` (and can be deleted), never an exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnn_demo.errors import InputError
from cnn_demo.jobs import gallery
from cnn_demo.jobs.admission import admission_lock
from cnn_demo.jobs.api import cancel_folder
from cnn_demo.jobs.backends import get_huey
from cnn_demo.jobs.index import drop_owner_marker, job_owners, job_snapshot, owned_job_ids, queued_order, unindex
from cnn_demo.jobs.names import stored_display_name
from cnn_demo.jobs.place import queue_place
from cnn_demo.jobs.records import (
    JOB_ID_RE,
    NOT_FOUND,
    JobStatus,
    damaged_status,
    folder_bytes,
    job_dir,
    owner_key,
    read_owners,
    read_params,
    read_status,
    tail_lines,
    write_json,
)
from cnn_demo.jobs.recovery import cleanup_expired
from cnn_demo.jobs.runner import CRASH_FILE
from cnn_demo.jobs.storage import holder_dirs, store_dir
from cnn_demo.jobs.tombstones import mark_removed
from cnn_demo.settings import Settings, get_settings

#: A job folder without its params or status that is older than this is left over (a crash while it was made):
#: listed as damaged so it can be deleted. Younger ones are being created or deleted right now.
INCOMPLETE_AFTER_S = 120.0


@dataclass(frozen=True)
class JobRow:
    """One job as the teacher sees it. ``owner_tag`` tells students apart without showing whose identity it is
    (a short hash of the owner); ``score`` is the job's headline figure in words (accuracy against the majority
    baseline, IoU, AP50); ``reference`` is the crash reference the student was shown, if any."""

    job_id: str
    kind: str
    state: str
    student: str
    owner_tag: str
    created: float
    started: float | None
    finished: float | None
    queue_position: int | None
    queue_wait: str
    run_seconds: float | None
    accuracy: float | None
    baseline: float | None
    score: str
    disk_bytes: int
    error: str | None
    reference: str | None

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON values (``jobs list --json``)."""
        return dataclasses.asdict(self)


def _score(kind: str, result: dict[str, Any] | None) -> tuple[float | None, float | None, str]:
    """``(accuracy, majority baseline, in words)`` of a finished job's result (``None`` where it has none)."""
    if not result:
        return None, None, ""

    def num(key: str) -> float | None:
        v = result.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    if num("val_accuracy") is not None:
        acc = num("best_val_accuracy") if num("best_val_accuracy") is not None else num("val_accuracy")
        base = num("baseline_val_accuracy")
        words = f"val {acc:.0%}" + (f" (majority {base:.0%})" if base is not None else "")
        test, test_base = num("test_accuracy"), num("baseline_test_accuracy")
        if test is not None:
            words += f", test {test:.0%}" + (f" (majority {test_base:.0%})" if test_base is not None else "")
        return acc, base, words
    for key, label in (("ap50", "AP50"), ("iou", "IoU")):
        if num(key) is not None:
            return None, None, f"{label} {num(key):.3f}"
    return None, None, ""


def _reference(st: Any) -> str | None:
    if isinstance(st, dict) and isinstance(st.get("ref"), str):
        return st["ref"]
    return None


def _row(s: Settings, folder: Path, params: dict[str, Any], snap: JobStatus) -> JobRow:
    st = read_status(folder)
    run = None
    if snap.started and snap.finished and snap.finished >= snap.started:
        run = snap.finished - snap.started
    elif snap.state == "running" and snap.started:
        run = time.time() - snap.started
    wait = ""
    if snap.state == "queued":
        with contextlib.suppress(Exception):  # an estimate, never a reason for the list to fail
            place = queue_place(folder.name, s)
            wait = place.describe() if place else ""
    acc, base, words = _score(snap.kind, snap.result)
    return JobRow(
        job_id=folder.name,
        kind=snap.kind,
        state=snap.state,
        student=stored_display_name(params),
        owner_tag=owner_key(str(params.get("owner", "")))[:6] if params.get("owner") else "",
        created=snap.created,
        started=snap.started,
        finished=snap.finished,
        queue_position=snap.queue_position,
        queue_wait=wait,
        run_seconds=run,
        accuracy=acc,
        baseline=base,
        score=words,
        disk_bytes=folder_bytes(folder),
        error=snap.error,
        reference=_reference(st),
    )


def _read(s: Settings, folder: Path, order: list[str]) -> tuple[dict[str, Any], JobStatus] | None:
    """The params (``{}`` when unreadable) and snapshot of one job folder; ``None`` while it is being made."""
    params, st = read_params(folder), read_status(folder)
    if params is None or st is None:
        try:
            young = time.time() - folder.stat().st_mtime < INCOMPLETE_AFTER_S
        except OSError:
            return None  # deleted meanwhile
        if young:
            return None
    if not isinstance(params, dict):
        params = {}  # unreadable or missing: the snapshot says damaged (params.json)
    snap = job_snapshot(s, folder, params, order)
    if st is None and params:
        snap = dataclasses.replace(snap, state="damaged", error=damaged_status("status.json")["error"])
    return params, snap


def _folders(s: Settings) -> list[Path]:
    root = s.jobs_dir
    try:
        return [f for f in root.iterdir() if JOB_ID_RE.match(f.name) and f.is_dir()]
    except OSError:
        return []


def list_all(settings: Settings | None = None) -> list[JobRow]:
    """Every job on the server, newest first, whoever's it is (damaged ones included, as ``damaged``)."""
    s = settings or get_settings()
    order = queued_order(s)
    rows = []
    for folder in _folders(s):
        read = _read(s, folder, order)
        if read is not None:
            rows.append(_row(s, folder, read[0], read[1]))
    return sorted(rows, key=lambda r: r.created, reverse=True)


def _normalise(ref: str) -> str:
    return str(ref).strip().strip("`'\".,;:()[]").strip()


def find_by_reference(ref: str, settings: Settings | None = None) -> list[JobRow]:
    """The jobs a student's reference names: a crash reference ("tell your teacher the reference 1a2b3c4d"), a job
    id (shown on every job panel and in the ``?job=`` link) or the first 6 or more characters of one. A sentence
    pasted whole (the student's message) is searched word by word."""
    s = settings or get_settings()
    want = _normalise(ref)
    words = {want, *re.findall(r"[A-Za-z0-9_-]{6,64}", str(ref))}
    words = {w for w in words if len(w) >= 4}
    if not words:
        return []
    found = []
    for row in list_all(s):
        folder = s.jobs_dir / row.job_id
        log = None
        for word in words:
            hit = row.job_id == word or (len(word) >= 6 and row.job_id.startswith(word))
            hit = hit or (row.reference or "").lower() == word.lower()
            hit = hit or (len(word) == 8 and f"the reference {word.lower()}." in (row.error or "").lower())
            if not hit and len(word) == 8:  # earlier crashes of a resumed job: in its log
                log = log if log is not None else "\n".join(tail_lines(folder / "log.txt", 200)).lower()
                hit = f"(reference {word.lower()})" in log
            if hit:
                found.append(row)
                break
    return found


def _crash(folder: Path) -> str | None:
    try:
        with open(folder / CRASH_FILE, "rb") as f:
            return f.read(64_000).decode("utf-8", errors="replace")
    except OSError:
        return None


def job_details(job_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Everything the teacher may look at of one job: its row, parameters, log tail and a crash's traceback."""
    s = settings or get_settings()
    folder = _existing(s, job_id)
    read = _read(s, folder, queued_order(s))
    if read is None:
        raise InputError(NOT_FOUND)
    params, snap = read
    row = _row(s, folder, params, snap)
    return {**row.to_dict(), "params": snap.params, "log": snap.log_tail, "crash": _crash(folder)}


def _existing(s: Settings, job_id: str) -> Path:
    folder = job_dir(s, job_id)
    if not folder.is_dir():
        raise InputError(NOT_FOUND)
    return folder


def cancel_any(job_id: str, settings: Settings | None = None) -> str:
    """Stop any job (queued: at once; running: at its next progress report); returns its state now."""
    s = settings or get_settings()
    folder = _existing(s, job_id)
    cancel_folder(s, folder)
    read = _read(s, folder, [])
    return read[1].state if read else "cancelled"


def delete_any(job_id: str, settings: Settings | None = None, *, force: bool = False, by_teacher: bool = False) -> None:
    """Delete any job with everything it stored. A queued or running one is refused unless ``force``, which
    cancels it first (a running job then ends at its next progress report, finding its folder gone). ``by_teacher``
    (the Teacher page's delete): its students then read that their teacher removed it."""
    s = settings or get_settings()
    folder = _existing(s, job_id)
    params = read_params(folder)
    params = params if isinstance(params, dict) else {}
    read = _read(s, folder, [])
    if read is not None and read[1].active:
        if not force:
            raise InputError("Cancel this job before deleting it.")
        cancel_folder(s, folder)
    owners = job_owners(folder, params) if params else []
    shutil.rmtree(folder, ignore_errors=True)
    unindex(s, job_id, [o for o in owners if o])
    if by_teacher:
        mark_removed(s, job_id, [owner_key(o) for o in owners if o])


@dataclass(frozen=True)
class PurgeReport:
    """What :func:`purge` removed: job ids, stored uploads, and the bytes freed in the state folder."""

    jobs: list[str]
    uploads: int
    bytes_freed: int


def _bytes(path: Path) -> int:
    return folder_bytes(path) if path.is_dir() else 0


def _kept_bytes(s: Settings) -> int:
    """Bytes of what students leave on the server: job folders, stored uploads, cached features, the gallery."""
    return sum(_bytes(p) for p in (s.jobs_dir, store_dir(s), s.state_dir / "feature-cache", s.state_dir / "gallery"))


def storage_use(settings: Settings | None = None) -> dict[str, int]:
    """Bytes the server keeps: job folders, stored uploads, cached features, the state folder in all, and the
    disk's free and total bytes."""
    s = settings or get_settings()
    out = {
        "jobs": _bytes(s.jobs_dir),
        "uploads": _bytes(store_dir(s)),
        "feature_cache": _bytes(s.state_dir / "feature-cache"),
        "gallery": _bytes(s.state_dir / "gallery"),
        "state_total": _bytes(s.state_dir),
    }
    try:
        usage = shutil.disk_usage(s.state_dir if s.state_dir.exists() else s.state_dir.parent)
        out.update(disk_free=usage.free, disk_total=usage.total)
    except OSError:
        out.update(disk_free=0, disk_total=0)
    return out


def purge(
    settings: Settings | None = None, *, older_than_hours: float | None = None, everything: bool = False
) -> PurgeReport:
    """Free the server's disk. ``everything``: the class reset: every job (running ones are stopped), every stored
    upload, cached feature and class-gallery entry. ``older_than_hours``: finished jobs, and uploads not opened
    since, older than that. Neither: what is past the retention (``CNN_DEMO_ARTIFACT_HOURS``), as the worker does
    every 10 min."""
    s = settings or get_settings()
    before = _kept_bytes(s)
    uploads = sum(1 for p in store_dir(s).iterdir() if p.is_dir()) if store_dir(s).is_dir() else 0
    if everything:
        removed = []
        for folder in _folders(s):
            with contextlib.suppress(InputError, OSError):
                delete_any(folder.name, s, force=True)
                removed.append(folder.name)
        for name in (
            "datasets",
            "upload-holders",
            "feature-cache",
            "gallery",
            "job-index/owners",
            "job-index/queued",
            "removed-jobs",  # a new class starts without marks of the last one's removals
        ):
            shutil.rmtree(s.state_dir / name, ignore_errors=True)
        with contextlib.suppress(Exception):  # the queue's tasks of deleted jobs; a worker would skip them anyway
            get_huey(s).storage.flush_queue()
    else:
        hours = s.artifact_hours if older_than_hours is None else older_than_hours
        if hours < 0:
            raise InputError("--older-than must be 0 hours or more.")
        removed = cleanup_expired(s.model_copy(update={"artifact_hours": hours}))
    left = sum(1 for p in store_dir(s).iterdir() if p.is_dir()) if store_dir(s).is_dir() else 0
    return PurgeReport(jobs=sorted(removed), uploads=uploads - left, bytes_freed=max(0, before - _kept_bytes(s)))


def delete_owner_data(owner: str, settings: Settings | None = None) -> tuple[int, int]:
    """ "Delete my data": every job ``owner`` submitted (running ones stopped), the runs they published, their
    access to jobs opened with a recovery code, and the stored uploads only they hold (a dataset others uploaded
    too stays for them). Returns ``(jobs deleted, uploads deleted)``."""
    s = settings or get_settings()
    if not owner:
        return 0, 0
    deleted = 0
    for entry in gallery.published_by(owner, s):  # their published runs go too
        shutil.rmtree(s.state_dir / "gallery" / entry, ignore_errors=True)
    for job_id in owned_job_ids(s, owner):
        folder = s.jobs_dir / job_id
        params = read_params(folder)
        if params is None:
            drop_owner_marker(s, owner, job_id)
            continue
        if isinstance(params, dict) and not secrets.compare_digest(str(params.get("owner", "")), owner):
            with admission_lock(s, "codes"):  # opened with its code: only this owner's access goes
                write_json(folder / "owners.json", [o for o in read_owners(folder) if o != owner])
            drop_owner_marker(s, owner, job_id)
            continue
        with contextlib.suppress(InputError, OSError):
            delete_any(job_id, s, force=True)
            deleted += 1
    uploads = 0
    mine = holder_dirs(s, owner, None)[0]
    for marker in mine.iterdir() if mine.is_dir() else ():
        others = [p for p in mine.parent.glob(f"*/{marker.name}") if p.parent != mine]
        dataset = store_dir(s) / marker.name
        if not marker.name.startswith(".") and not others and dataset.is_dir():
            shutil.rmtree(dataset, ignore_errors=True)
            uploads += 1
    shutil.rmtree(mine, ignore_errors=True)
    return deleted, uploads
