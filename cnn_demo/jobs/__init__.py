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
``<state>/job-index/`` lists each user's jobs and the queued ones, so a page listing its user's jobs reads
those folders only (:mod:`~cnn_demo.jobs.index`).

Parts: :mod:`~cnn_demo.jobs.records` (files, ids, liveness), :mod:`~cnn_demo.jobs.context` (job kinds and what a
job function gets), :mod:`~cnn_demo.jobs.index`, :mod:`~cnn_demo.jobs.api` (what pages ask: submit, status,
list, cancel, resume, delete), :mod:`~cnn_demo.jobs.codes` (recovery codes), :mod:`~cnn_demo.jobs.admission`
(fair shares under one lock), :mod:`~cnn_demo.jobs.backends` (the Huey queue on SQLite or Redis),
:mod:`~cnn_demo.jobs.runner` (one job in this process), :mod:`~cnn_demo.jobs.recovery` (lost workers, lost queue
entries, expiry), :mod:`~cnn_demo.jobs.process` (priority, dying with the parent), :mod:`~cnn_demo.jobs.worker`,
:mod:`~cnn_demo.jobs.place` (a queued job's place and estimated wait: :func:`queue_place`).
"""

from cnn_demo.jobs.admission import reserve_upload
from cnn_demo.jobs.api import (
    UNKNOWN_CLIENT,
    cancel,
    client_key,
    delete,
    job_file,
    job_folder,
    list_jobs,
    resume,
    status,
    submit,
)
from cnn_demo.jobs.backends import get_huey
from cnn_demo.jobs.codes import RECOVERY_TRIES_PER_ADDRESS, claim, new_recovery_code
from cnn_demo.jobs.context import JobContext, JobFunction, load_job_modules, register
from cnn_demo.jobs.place import QueuePlace, queue_place
from cnn_demo.jobs.process import (
    AUTOGROUP_SELF,
    AUTOGROUP_SWITCH,
    autogroup_enabled,
    die_with_parent,
    lower_priority,
    stop_with_parent,
)
from cnn_demo.jobs.records import (
    ACTIVE_STATES,
    CRASH_MESSAGE,
    FINAL_STATES,
    HEARTBEAT_EVERY_S,
    JOB_MODULES,
    MAX_RESTART_RESUMES,
    NOT_FOUND,
    NOT_YOURS,
    QUEUE_LOST_MESSAGE,
    RECOVERY_TRIES,
    STATES,
    JobCancelled,
    JobStatus,
    NotYourJob,
    log,
)
from cnn_demo.jobs.recovery import cleanup_expired, reconcile_queue, recover
from cnn_demo.jobs.runner import run_job
from cnn_demo.jobs.storage import held_bytes, hold_upload, remove_abandoned, store_dir
from cnn_demo.jobs.worker import run_worker

__all__ = [
    "ACTIVE_STATES",
    "AUTOGROUP_SELF",
    "AUTOGROUP_SWITCH",
    "CRASH_MESSAGE",
    "FINAL_STATES",
    "HEARTBEAT_EVERY_S",
    "JOB_MODULES",
    "MAX_RESTART_RESUMES",
    "NOT_FOUND",
    "NOT_YOURS",
    "QUEUE_LOST_MESSAGE",
    "RECOVERY_TRIES",
    "RECOVERY_TRIES_PER_ADDRESS",
    "STATES",
    "UNKNOWN_CLIENT",
    "JobCancelled",
    "JobContext",
    "JobFunction",
    "JobStatus",
    "NotYourJob",
    "QueuePlace",
    "autogroup_enabled",
    "cancel",
    "claim",
    "cleanup_expired",
    "client_key",
    "delete",
    "die_with_parent",
    "get_huey",
    "held_bytes",
    "hold_upload",
    "job_file",
    "job_folder",
    "list_jobs",
    "load_job_modules",
    "log",
    "lower_priority",
    "new_recovery_code",
    "queue_place",
    "reconcile_queue",
    "recover",
    "register",
    "remove_abandoned",
    "reserve_upload",
    "resume",
    "run_job",
    "run_worker",
    "status",
    "stop_with_parent",
    "store_dir",
    "submit",
]
