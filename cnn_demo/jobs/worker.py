"""The worker: a Huey consumer running jobs in child processes plus the recovery watchdog."""

from __future__ import annotations

import logging
import threading

from cnn_demo.jobs.backends import get_huey
from cnn_demo.jobs.context import load_job_modules
from cnn_demo.jobs.place import announce_worker
from cnn_demo.jobs.process import die_with_parent, lower_priority, stop_with_parent
from cnn_demo.jobs.records import log
from cnn_demo.jobs.recovery import reconcile_queue, recover, run_watchdog
from cnn_demo.settings import Settings, get_settings

#: Longest pause between an idle worker's looks at the queue (Huey backs off to 10 s by default).
IDLE_POLL_S = 0.5


def run_worker(settings: Settings | None = None, parent_pid: int | None = None) -> None:
    """Run a Huey consumer (``max_concurrent_jobs`` worker processes) plus the recovery watchdog, until stopped.

    With ``parent_pid`` the worker stops when that process (``serve``) is gone, even if it was killed outright.
    """
    s = settings or get_settings()
    s.jobs_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    priority = lower_priority(s.worker_nice)
    huey = get_huey(s)
    _recover_at_start(s)
    stop = threading.Event()
    consumer = _consumer_class(s, stop, parent_pid)
    # The job processes are forked from this one: with the job modules (torch, the models) imported here first, a
    # job starts computing at once instead of importing for seconds; an idle worker asks for work every
    # IDLE_POLL_S instead of backing off to Huey's 10 s, so a student's job never waits on an idle queue.
    load_job_modules(s)
    log.info(
        "worker: queue %s, %d job(s) at once with %d torch thread(s) each, %s",
        s.redis_url or s.state_dir / "queue.sqlite3",
        s.max_concurrent_jobs,
        s.torch_threads,
        priority,
    )
    try:
        consumer(
            huey, workers=s.max_concurrent_jobs, worker_type="process", periodic=False, max_delay=IDLE_POLL_S
        ).run()
    finally:
        stop.set()


def _recover_at_start(s: Settings) -> None:
    """Re-queue the jobs a stopped worker left and those the queue lost, before the watchdog's first pass (which
    would count them as automatic resumes). A failure is logged: the worker starts anyway."""
    try:
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


def _consumer_class(s: Settings, stop: threading.Event, parent_pid: int | None) -> type:
    """Huey's consumer, starting our watchdog and announcer threads once its processes are forked, and making each
    process die with it (imported here: Huey is loaded only where a worker runs)."""
    from huey.consumer import Consumer

    class _Consumer(Consumer):
        def start(self) -> None:
            # Our threads start once the worker processes are forked: a fork while the watchdog holds the
            # queue's storage lock would leave the child waiting on that lock forever, never taking a job.
            super().start()
            threading.Thread(target=run_watchdog, args=(s, stop), daemon=True, name="cnn-demo-watchdog").start()
            slots = (s, s.max_concurrent_jobs, stop)
            threading.Thread(target=announce_worker, args=slots, daemon=True, name="cnn-demo-announce").start()
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

    return _Consumer
