"""Where a queued job stands: its place in the queue and about when its results will be ready.

A student waiting behind a class wants "12th in the queue, about 8 min", not a bare position. The estimate plays the
queue forward: the jobs running now end when their own estimates say (or after their kind's typical run), each free
slot takes the next job in line, and every job takes as long as the recent runs of its kind took. What that needs
is kept beside the job folders, small and cheap to read on every refresh of a page::

    <state>/job-stats/<kind>.jsonl     the last runs of each kind: {"seconds": ..., "finished": ...}
                      running/<id>     the jobs running now (written by the worker running them)
                      workers/<name>   each live worker and how many jobs it runs at once (touched every few s)
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cnn_demo.jobs.index import job_snapshot, queued_order
from cnn_demo.jobs.records import check_id, read_json, worker_lost
from cnn_demo.settings import Settings, get_settings

#: Runs of one kind kept for the estimate (the median of these is the kind's typical run).
KEEP_RUNS = 20

#: A worker that has not announced itself for this long is gone.
WORKER_FRESH_S = 30.0

WORKER_EVERY_S = 5.0


@dataclass(frozen=True)
class QueuePlace:
    """A queued job's place: ``position`` (1 = next to start), the ``ahead`` jobs waiting before it, and the seconds
    until it starts (``start_seconds``) and until its results are ready (``eta_seconds``: waiting plus its own run);
    the estimates are ``None`` while no run of the kinds involved has finished yet. ``slots``: jobs run at once."""

    position: int
    ahead: int
    eta_seconds: float | None
    start_seconds: float | None = None
    slots: int = 1

    def describe(self) -> str:
        """In words, e.g. "12th in the queue, about 8 min" (until the results are ready)."""
        place = "next in the queue" if self.position == 1 else f"{_ordinal(self.position)} in the queue"
        if self.eta_seconds is None:
            return place
        return f"{place}, {_about(self.eta_seconds)}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _about(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    return f"about {max(1, round(seconds / 60))} min"


def _stats_dir(settings: Settings) -> Path:
    return settings.state_dir / "job-stats"


# --------------------------------------------------------------------------- what workers record


def record_run(settings: Settings, kind: str, seconds: float) -> None:
    """Remember that a job of ``kind`` ran for ``seconds`` (kept: the last :data:`KEEP_RUNS` of each kind)."""
    folder = _stats_dir(settings)
    path = folder / f"{kind}.jsonl"
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:  # one short line per write: appends from several workers do not interleave
            f.write(json.dumps({"seconds": round(float(seconds), 3), "finished": time.time()}) + "\n")
        if path.stat().st_size > 120 * KEEP_RUNS:  # about twice as many lines as kept: keep only the last runs
            lines = path.read_text().splitlines()[-KEEP_RUNS:]
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text("".join(line + "\n" for line in lines))
            os.replace(tmp, path)


def mark_running(settings: Settings, job_id: str, kind: str) -> None:
    """Record that this process runs ``job_id`` now."""
    folder = _stats_dir(settings) / "running"
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / check_id(job_id)).write_text(json.dumps({"kind": kind, "started": time.time()}))


def unmark_running(settings: Settings, job_id: str) -> None:
    """Record that ``job_id`` no longer runs."""
    with contextlib.suppress(OSError):
        (_stats_dir(settings) / "running" / job_id).unlink()


def announce_worker(settings: Settings, slots: int, stop: threading.Event, name: str | None = None) -> None:
    """Keep this worker's entry fresh (every :data:`WORKER_EVERY_S`) until ``stop``; then remove it."""
    folder = _stats_dir(settings) / "workers"
    path = folder / (name or f"{socket.gethostname()}-{os.getpid()}")
    try:
        while True:
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"slots": int(slots), "time": time.time()}))
            if stop.wait(WORKER_EVERY_S):
                break
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


# --------------------------------------------------------------------------- reading it back


def typical_seconds(settings: Settings, kind: str) -> float | None:
    """The median of the recent runs of ``kind``; ``None`` before the first one."""
    runs = []
    try:
        lines = (_stats_dir(settings) / f"{kind}.jsonl").read_text().splitlines()[-KEEP_RUNS:]
    except OSError:
        return None
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            runs.append(float(json.loads(line)["seconds"]))
    return statistics.median(runs) if runs else None


def worker_slots(settings: Settings) -> int:
    """Jobs the live workers run at once, all together (``max_concurrent_jobs`` when none has announced itself)."""
    now, total = time.time(), 0
    folder = _stats_dir(settings) / "workers"
    for path in folder.iterdir() if folder.is_dir() else ():
        entry = read_json(path) or {}
        with contextlib.suppress(ValueError, TypeError):
            if now - float(entry.get("time", 0)) <= WORKER_FRESH_S:
                total += max(1, int(entry.get("slots", 1)))
    return total or settings.max_concurrent_jobs


_KINDS: dict[str, str] = {}  # job id -> kind: a job's kind never changes, so each params.json is read once


def _kind(settings: Settings, job_id: str) -> str:
    kind = _KINDS.get(job_id)
    if kind is None:
        kind = str((read_json(settings.jobs_dir / job_id / "params.json") or {}).get("kind", ""))
        if len(_KINDS) > 10_000:
            _KINDS.clear()
        _KINDS[job_id] = kind
    return kind


def _running_left(settings: Settings, typical: dict[str, float | None]) -> list[float]:
    """Seconds each running job still needs (its own estimate, else its kind's typical run less its time so far)."""
    folder = _stats_dir(settings) / "running"
    left = []
    for marker in folder.iterdir() if folder.is_dir() else ():
        job = settings.jobs_dir / marker.name
        params, st = read_json(job / "params.json"), read_json(job / "status.json")
        if not params or not st or st.get("state") != "running" or worker_lost(st, job, settings):
            unmark_running(settings, marker.name)  # finished, or its worker died: the marker is stale
            continue
        snap = job_snapshot(settings, job, params, [])
        kind = str(params.get("kind", ""))
        if kind not in typical:
            typical[kind] = typical_seconds(settings, kind)
        if snap.eta_s is not None:
            left.append(float(snap.eta_s))
        else:
            ran = time.time() - float(st.get("run_started") or st.get("started") or time.time())
            left.append(max(0.0, (typical[kind] or 0.0) - ran))
    return left


def queue_place(job_id: str, settings: Settings | None = None) -> QueuePlace | None:
    """The place of queued job ``job_id`` and the estimated wait for its results; ``None`` if it is not queued."""
    s = settings or get_settings()
    order = queued_order(s)
    if job_id not in order:
        return None
    position = order.index(job_id) + 1
    typical: dict[str, float | None] = {}

    def run_time(jid: str) -> float | None:
        kind = _kind(s, jid)
        if kind not in typical:
            typical[kind] = typical_seconds(s, kind)
        return typical[kind]

    running = _running_left(s, typical)
    slots = max(worker_slots(s), len(running))
    free = sorted(running) + [0.0] * (slots - len(running))  # when each slot is next free
    heapq.heapify(free)
    for jid in order[: position - 1]:
        seconds = run_time(jid)
        if seconds is None:
            return QueuePlace(position, position - 1, None, None, slots)
        heapq.heappush(free, heapq.heappop(free) + seconds)
    start = heapq.heappop(free)
    own = run_time(job_id)
    return QueuePlace(position, position - 1, None if own is None else start + own, start, slots)
