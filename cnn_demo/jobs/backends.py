"""The queue that delivers jobs to workers: Huey on SQLite under the state folder, or on Redis."""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

from cnn_demo.errors import InputError
from cnn_demo.jobs.index import mark_queued
from cnn_demo.jobs.process import die_with_parent
from cnn_demo.jobs.records import DAMAGED_MESSAGE, read_status, write_json
from cnn_demo.jobs.runner import run_job
from cnn_demo.settings import Settings, get_settings

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


def enqueue(settings: Settings, job_id: str) -> None:
    """Hand job ``job_id`` to the queue; an unreachable queue is an :class:`InputError` a student can read."""
    try:
        _queue(str(settings.state_dir), settings.redis_url)[1](job_id)
    except Exception as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("The job queue is not reachable right now; please try again in a minute.") from exc


def requeue(settings: Settings, folder: Path, automatic: bool, restart: bool = False) -> None:
    """Queue a stopped job again (a resume): its status back to queued, counting the resume as ``automatic`` (the
    watchdog) and/or a worker ``restart``, then :func:`enqueue` it."""
    st = read_status(folder)
    if not isinstance(st, dict):
        raise InputError(DAMAGED_MESSAGE.format(file="status.json"))
    st.update(state="queued", queued_at=time.time(), resumes=int(st.get("resumes", 0)) + 1, error=None)
    st.pop("pid", None)
    if automatic:
        st["auto_resumes"] = int(st.get("auto_resumes", 0)) + 1
    if restart:
        st["restart_resumes"] = int(st.get("restart_resumes", 0)) + 1
    with contextlib.suppress(FileNotFoundError):
        (folder / "cancel").unlink()
    write_json(folder / "status.json", st)
    mark_queued(settings, folder.name, st["queued_at"])
    enqueue(settings, folder.name)


def pending_ids(settings: Settings) -> set[str]:
    """Job ids waiting in the Huey queue right now."""
    return {str(task.args[0]) for task in get_huey(settings).pending() if getattr(task, "args", None)}
