"""Jobs never wait forever: lost workers' jobs re-queued, jobs the queue lost enqueued again, old folders deleted."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time

from cnn_demo.errors import InputError
from cnn_demo.jobs.backends import enqueue, pending_ids, requeue
from cnn_demo.jobs.index import job_owners, sync_index, unindex, unmark_queued
from cnn_demo.jobs.records import (
    ACTIVE_STATES,
    MAX_RESTART_RESUMES,
    QUEUE_LOST_MESSAGE,
    log,
    read_status,
    scan_jobs,
    write_json,
)
from cnn_demo.jobs.storage import remove_abandoned, store_dir
from cnn_demo.settings import Settings, get_settings


def recover(settings: Settings | None = None, *, restart: bool = False) -> list[str]:
    """Mark jobs whose worker died as interrupted and re-queue each up to ``auto_resume`` times.

    ``restart=True`` is a worker starting up (``serve`` restarting it, a server reboot): the jobs it finds cut off
    by the stop are re-queued without using up their automatic resumes, which are meant for jobs that keep
    crashing their worker. Safe to run from several workers at once: a claim file makes exactly one of them
    re-queue a job. Returns the ids re-queued.
    """
    s = settings or get_settings()
    requeued = []
    for folder, _, st in scan_jobs(s):
        if st["state"] != "interrupted":
            continue
        raw = read_status(folder)
        if not isinstance(raw, dict):
            continue  # damaged (or deleted) since the scan
        was_running = raw.get("state") == "running"
        if was_running:
            raw.update(state="interrupted", finished=time.time())
            write_json(folder / "status.json", raw)
            with contextlib.suppress(OSError):
                (folder / "log.txt").open("a").write(f"{time.strftime('%H:%M:%S')} worker lost\n")
        if (folder / "cancel").exists():
            continue
        # A job cut off by a restart continues for free, a few times: one that keeps killing its worker is
        # then counted like any crash, so it cannot make serve restart its worker forever.
        free = restart and was_running and int(raw.get("restart_resumes", 0)) < MAX_RESTART_RESUMES
        if not free and int(raw.get("auto_resumes", 0)) >= s.auto_resume:
            continue
        marker = folder / f".requeue-{int(raw.get('resumes', 0))}"
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.close(fd)
        requeue(s, folder, automatic=not free, restart=free)
        requeued.append(folder.name)
        log.info("re-queued interrupted job %s%s", folder.name, " (worker restart)" if restart else "")
    return requeued


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
        pending = pending_ids(s)
    except Exception:
        log.warning("the job queue could not be read; queued jobs not checked", exc_info=True)
        return []
    now = time.time()
    fixed = []
    for folder, params, st in scan_jobs(s):
        if st["state"] != "queued" or folder.name in pending or (folder / "cancel").exists():
            continue
        if now - float(st.get("queued_at") or params.get("created") or 0) < grace_s:
            continue
        if (folder / f".run-{st.get('queued_at', 0)}").exists():
            continue  # taken by a worker a moment ago, which is writing its running status
        try:
            enqueue(s, folder.name)
        except InputError:
            raw = read_status(folder)
            if not isinstance(raw, dict):
                continue
            raw.update(state="failed", finished=time.time(), error=QUEUE_LOST_MESSAGE)
            write_json(folder / "status.json", raw)
            unmark_queued(s, folder.name)
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
    # Uploaded datasets (cnn_demo.data.datasets.cleanup_store, written out here: this runs in the watchdog thread,
    # and an import there could hold a module lock while Huey forks a job process, which would then hang importing it).
    stores = store_dir(s)
    remove_abandoned(stores)  # decodes cut off by a restart
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
    for folder, params, st in scan_jobs(s):
        if st["state"] in ACTIVE_STATES:
            continue
        when = st.get("finished") or st.get("updated") or params.get("created", 0)
        if st["state"] == "damaged":  # nothing in it can be trusted: its last change counts
            with contextlib.suppress(OSError):
                when = max(p.stat().st_mtime for p in (folder, *folder.iterdir()))
        if when and float(when) < limit:
            owners = job_owners(folder, params)
            shutil.rmtree(folder, ignore_errors=True)
            unindex(s, folder.name, owners)
            removed.append(folder.name)
    return removed


def run_watchdog(settings: Settings, stop: threading.Event) -> None:
    """The worker's watchdog loop until ``stop``: re-queue lost jobs, repair the queue and its index, and every ten
    minutes delete expired folders. A failed pass is logged and the next one tries again."""
    every = max(0.5, min(10.0, settings.heartbeat_timeout_s / 3))
    last_cleanup = 0.0
    while not stop.is_set():
        try:
            recover(settings)
            reconcile_queue(settings)
            sync_index(settings)
            if time.time() - last_cleanup > 600:
                cleanup_expired(settings)
                last_cleanup = time.time()
        except Exception:
            log.exception("watchdog pass failed")
        stop.wait(every)
