"""Per-user and queue indexes of the job folders, and the snapshot a user sees of one job.

A page lists its user's jobs on every rerun, so that must not read every user's folders. Beside the job folders,
``<state>/job-index/`` holds empty marker files kept up to date wherever a job is created, claimed, queued, taken
or deleted::

    owners/<owner key>/<job id>   the jobs an owner submitted or opened with a recovery code
    queued/<job id>               the jobs waiting in the queue (text: when each was queued), for queue positions

The job folders stay the record: a marker whose folder is gone is dropped when met, and the worker's watchdog,
which reads every folder anyway, repairs the queue markers (:func:`sync_index`). A state folder from before the
index gets it built on first use.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from cnn_demo.jobs.records import (
    DAMAGED,
    JOB_ID_RE,
    RESULT_LIMIT,
    JobStatus,
    damaged_status,
    load_json,
    owner_key,
    read_jsonl,
    read_owners,
    read_status,
    scan_jobs,
    tail_lines,
    worker_lost,
)
from cnn_demo.settings import Settings

_INDEX_VERSION = "1"


def _index_root(settings: Settings) -> Path:
    return settings.state_dir / "job-index"


def _owner_dir(settings: Settings, owner: str) -> Path:
    # Owners are identity tokens: only a hash of one names a folder.
    return _index_root(settings) / "owners" / owner_key(owner)


def index_owner(settings: Settings, job_id: str, owner: str) -> None:
    """Record that ``owner`` may see job ``job_id`` (its submitter, or someone who gave its recovery code)."""
    folder = _owner_dir(settings, owner)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / job_id).touch()


def mark_queued(settings: Settings, job_id: str, queued_at: float) -> None:
    """Record that ``job_id`` waits in the queue since ``queued_at``."""
    folder = _index_root(settings) / "queued"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / job_id).write_text(repr(float(queued_at)))


def unmark_queued(settings: Settings, job_id: str) -> None:
    """Record that ``job_id`` no longer waits in the queue (taken, cancelled, failed or deleted)."""
    with contextlib.suppress(OSError):
        (_index_root(settings) / "queued" / job_id).unlink()


def unindex(settings: Settings, job_id: str, owners: list[str]) -> None:
    """Forget a deleted job in the indexes of ``owners`` and of the queue."""
    unmark_queued(settings, job_id)
    for owner in owners:
        with contextlib.suppress(OSError):
            (_owner_dir(settings, owner) / job_id).unlink()


def job_owners(folder: Path, params: dict[str, Any]) -> list[str]:
    """Everyone who may see the job: its submitter and those who opened it with its recovery code."""
    return [str(params.get("owner", "")), *read_owners(folder)]


def _ensure_index(settings: Settings) -> None:
    """Build the indexes once from the job folders of a state folder that predates them."""
    root = _index_root(settings)
    if (root / "version").is_file():
        return
    try:
        sync_index(settings, owners=True)
        (root / "version").write_text(_INDEX_VERSION)
    except OSError:  # a full disk: the next call tries again, a page lists what the index has meanwhile
        pass


def sync_index(settings: Settings, *, owners: bool = False) -> None:
    """Make the queue markers (and with ``owners=True`` the owner markers) match the job folders."""
    scanned = list(scan_jobs(settings))
    queued = {f.name: st.get("queued_at", p.get("created", 0)) for f, p, st in scanned if st["state"] == "queued"}
    folder = _index_root(settings) / "queued"
    folder.mkdir(parents=True, exist_ok=True)
    for marker in folder.iterdir():
        if marker.name in queued:
            continue
        # Read again: the job may have been queued after the scan read it.
        now = read_status(settings.jobs_dir / marker.name)
        if not isinstance(now, dict) or now.get("state") != "queued":
            unmark_queued(settings, marker.name)
    for job_id, queued_at in queued.items():
        if not (folder / job_id).exists():
            mark_queued(settings, job_id, float(queued_at or 0))
    if owners:
        for f, p, _ in scanned:
            for owner in job_owners(f, p):
                if owner:
                    index_owner(settings, f.name, owner)


def owned_job_ids(settings: Settings, owner: str) -> list[str]:
    """The ids of the jobs in ``owner``'s index (reads that one folder only)."""
    _ensure_index(settings)
    try:
        return [p.name for p in _owner_dir(settings, owner).iterdir() if JOB_ID_RE.match(p.name)]
    except OSError:
        return []


def drop_owner_marker(settings: Settings, owner: str, job_id: str) -> None:
    """Remove a marker of ``owner``'s whose job is gone."""
    with contextlib.suppress(OSError):
        (_owner_dir(settings, owner) / job_id).unlink()


def queued_order(settings: Settings) -> list[str]:
    """The ids of the queued jobs, first in line first (reads the queue index, not the job folders)."""
    _ensure_index(settings)
    rows = []
    folder = _index_root(settings) / "queued"
    for marker in folder.iterdir() if folder.is_dir() else ():
        try:
            rows.append((float(marker.read_text() or 0), marker.name))
        except (OSError, ValueError):
            continue  # just taken by a worker, or half-written
    return [name for _, name in sorted(rows)]


def time_left(since: float, steps: int, remaining: int, last_step: float | None, now: float | None = None) -> float:
    """Seconds left: ``steps`` took from ``since`` to ``last_step`` (the last progress report), ``remaining`` are
    to come, and the one under way has been running since ``last_step``.

    The time a step has been running counts against the estimate rather than into the rate: dividing the time up
    to *now* by the steps *reported* made the estimate climb between reports, to nearly twice the truth just
    before a one-minute epoch ended. A step running late holds the estimate at the steps after it.
    """
    now = time.time() if now is None else now
    last = now if last_step is None else min(float(last_step), now)
    per_step = max(0.0, last - since) / steps
    return max(0.0, per_step * remaining - min(now - last, per_step))


def job_snapshot(settings: Settings, folder: Path, params: dict[str, Any], order: list[str] | None) -> JobStatus:
    """What the owner sees of one job. Files that cannot be read make it ``damaged`` (with a message naming the
    file), never an exception: one bad folder must not break a page, a submit or the watchdog."""
    st = read_status(folder)
    if st is None:
        st = {"state": "queued"}  # written a moment after params.json
    if not params:
        st = damaged_status("params.json")
    elif st is DAMAGED:
        st = damaged_status("status.json")
    state = st["state"]
    result = None
    if state == "done":
        result = load_json(folder / "result.json", RESULT_LIMIT)
        if result is DAMAGED or (result is not None and not isinstance(result, dict)):
            st, state, result = damaged_status("result.json"), "damaged", None
    if worker_lost(st, folder, settings):
        state = "interrupted"
    done, total = int(st.get("done", 0)), int(st.get("total", 0))
    eta = None
    started = st.get("phase_started") or st.get("run_started")
    if state == "running" and started and total:
        ran = done - int(st.get("phase_start_done", st.get("run_start_done", 0)))
        since_warm = done - int(st.get("rate_start_done", done))
        if st.get("rate_started") and since_warm > 0:
            eta = time_left(st["rate_started"], since_warm, total - done, st.get("updated"))
        elif ran > 0:
            eta = time_left(started, ran, total - done, st.get("updated"))
    position = None
    if state == "queued":
        order = order if order is not None else queued_order(settings)
        position = order.index(folder.name) + 1 if folder.name in order else len(order) + 1
    error = st.get("error")
    if state == "interrupted" and not error:
        error = "The worker running this job stopped (crash or restart). Resume it to continue from its last epoch."
    return JobStatus(
        job_id=folder.name,
        kind=str(params.get("kind", "")),
        state=state,
        done=done,
        total=total,
        created=float(params.get("created", 0)),
        started=st.get("started"),
        finished=st.get("finished"),
        queue_position=position,
        eta_s=eta,
        metrics=read_jsonl(folder / "metrics.jsonl"),
        result=result,
        error=error,
        params=dict(params.get("params", {})),
        resumes=int(st.get("resumes", 0)),
        log_tail=tail_lines(folder / "log.txt"),
        phase=str(st.get("phase", "")),
    )
