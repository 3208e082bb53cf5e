"""Running one queued job in this process (what a worker process does), with a heartbeat."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from cnn_demo.errors import InputError
from cnn_demo.jobs.context import JobContext, load_job_modules
from cnn_demo.jobs.index import unmark_queued
from cnn_demo.jobs.place import mark_running, record_run, unmark_running
from cnn_demo.jobs.records import (
    CRASH_MESSAGE,
    DAMAGED,
    DISK_FULL_MESSAGE,
    HEARTBEAT_EVERY_S,
    JobCancelled,
    job_dir,
    log,
    read_params,
    read_status,
    write_json,
)
from cnn_demo.settings import Settings, get_settings

#: Where a crashed job's traceback is kept (beside the worker's log), and its last bytes kept.
CRASH_FILE = "crash.txt"
CRASH_BYTES = 32_000

# --------------------------------------------------------------------------- worker side


def _heartbeat(folder: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            (folder / "heartbeat").touch()
        stop.wait(HEARTBEAT_EVERY_S)


def run_job(job_id: str, settings: Settings | None = None) -> str:
    """Run one queued job in this process (what a worker does); returns its final state."""
    s = settings or get_settings()
    folder = job_dir(s, job_id)
    params, st = read_params(folder), read_status(folder)
    skipped = _not_to_run(s, job_id, folder, params, st)
    if skipped is not None:
        return skipped
    # The queue may deliver one job twice (a task re-enqueued after the queue lost it, see reconcile_queue):
    # exactly one delivery per queuing runs it.
    marker = folder / f".run-{st.get('queued_at', 0)}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return "duplicate"
    now = time.time()
    if not _mark_started(job_id, folder, st, marker, now):
        return "deferred"
    unmark_queued(s, job_id)
    mark_running(s, job_id, str(params["kind"]))  # for the queue's estimates (jobs.queue_place)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(folder, stop), daemon=True)
    beat.start()
    ctx = JobContext(job_id, folder, s, st)
    try:
        _run_function(s, folder, params, st, ctx)
    except JobCancelled:
        st.update(state="cancelled")
        ctx.log("cancelled")
    except InputError as exc:
        st.update(state="failed", error=str(exc))
        ctx.log(f"failed: {exc}")
    except Exception as exc:
        _record_error(job_id, folder, st, ctx, exc)
    finally:
        stop.set()
        beat.join(timeout=5)
        unmark_running(s, job_id)
    _save_final_status(s, job_id, folder, str(params["kind"]), st, now)
    return str(st["state"])


def _not_to_run(s: Settings, job_id: str, folder: Path, params: Any, st: Any) -> str | None:
    """The state to report for a delivery that must not run: its folder gone or damaged, the job no longer queued,
    or cancelled while it waited (then marked cancelled here). ``None`` when the job is to run."""
    if params is None or st is None:
        log.warning("job %s has no folder any more; skipped", job_id)
        return "missing"
    if params is DAMAGED or st is DAMAGED:
        log.warning("job %s has damaged files; skipped", job_id)
        unmark_queued(s, job_id)
        return "damaged"
    if st.get("state") != "queued" or (folder / "cancel").exists():
        if st.get("state") == "queued":
            st.update(state="cancelled", finished=time.time())
            write_json(folder / "status.json", st)
            unmark_queued(s, job_id)
        return str(st.get("state"))
    return None


def _mark_started(job_id: str, folder: Path, st: dict[str, Any], marker: Path, now: float) -> bool:
    """Write the running status (this host and process, the clocks of this run); ``False`` when the disk is full."""
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
    try:
        (folder / "heartbeat").touch()
        write_json(folder / "status.json", st)
    except OSError:
        # A full disk: the job stays queued and this delivery gives it back, so the watchdog queues it again once
        # there is room (instead of a marker saying it was taken, which would keep it waiting for ever).
        with contextlib.suppress(OSError):
            marker.unlink()
        log.warning("job %s could not start (no room to write its status); left queued", job_id)
        return False
    return True


def _run_function(s: Settings, folder: Path, params: dict[str, Any], st: dict[str, Any], ctx: JobContext) -> None:
    """Call the job's registered function and keep its result; its status becomes ``done``."""
    import torch

    torch.set_num_threads(s.torch_threads)
    fn = load_job_modules(s).get(params["kind"])
    if fn is None:
        raise InputError(f"This worker does not know jobs of kind {params['kind']!r}.")
    ctx.log(f"started (attempt {int(st.get('resumes', 0)) + 1})")
    result = fn(params["params"], ctx)
    write_json(folder / "result.json", result or {})
    st.update(state="done", done=max(int(st.get("done", 0)), int(st.get("total", 0))))
    ctx.log("finished")


def _record_error(job_id: str, folder: Path, st: dict[str, Any], ctx: JobContext, exc: Exception) -> None:
    """Fail the job for an unexpected exception (called while handling it): a full disk says so; anything else is
    a crash whose details go to the worker's log and :data:`CRASH_FILE`, the student seeing only a reference."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        st.update(state="failed", error=DISK_FULL_MESSAGE)
        log.error("job %s stopped: the disk is full", job_id)
        return
    # The details (exception text, paths, host) go to the worker's log for the operator, never to the page.
    ref = secrets.token_hex(4)
    st.update(state="failed", error=CRASH_MESSAGE.format(ref=ref), ref=ref)
    ctx.log(f"stopped by an internal error (reference {ref})")
    details = traceback.format_exc()
    log.error("job %s crashed (reference %s):\n%s", job_id, ref, details)
    # For the teacher and the operator (`python -m cnn_demo jobs show REF`), never shown to the student.
    with contextlib.suppress(OSError):
        (folder / CRASH_FILE).write_text(f"reference {ref}\n{details[-CRASH_BYTES:]}")


def _save_final_status(s: Settings, job_id: str, folder: Path, kind: str, st: dict[str, Any], started: float) -> None:
    """Write the job's final status, and its run time for the queue's estimates when it is done."""
    st.update(finished=time.time(), updated=time.time())
    if st["state"] == "done":
        record_run(s, kind, st["finished"] - started)
    try:
        write_json(folder / "status.json", st)
    except OSError:  # a full disk: the job reads as interrupted once its heartbeat stops, and can be resumed
        log.error("job %s ended %s, but its status could not be written", job_id, st["state"])
