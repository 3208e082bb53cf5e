"""Fair shares of the queue and the disk, checked and taken in one step under a lock held across processes.

Checking the shares and creating the job are one step: :func:`admission_lock` is held around both, so twenty
submits at the same moment (threads of one web server, several web-server processes, replicas on other machines)
see each other's jobs. With the SQLite queue the lock is an ``flock`` on a file in the state folder (every process
shares that folder); with Redis it is a Redis lock (``SET NX`` with an expiry, released by a compare-and-delete
script), which also holds between machines whose shared folder (NFS) may not honour ``flock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnn_demo.errors import InputError
from cnn_demo.jobs.records import ACTIVE_STATES, folder_bytes, format_mb, scan_jobs
from cnn_demo.jobs.storage import held_bytes, holder_dirs
from cnn_demo.settings import Settings

#: How long a submit waits for another one to finish its check before saying the server is busy.
LOCK_WAIT_S = 30.0
#: A Redis lock left by a process that died expires after this many seconds.
REDIS_LOCK_TTL_S = 120

BUSY = "The server is very busy right now; please try again in a moment."


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


@contextlib.contextmanager
def admission_lock(settings: Settings, name: str = "admission", wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the lock ``name`` across threads, processes and (with Redis) machines; :class:`InputError` when it
    cannot be had within ``wait_s`` or the queue is unreachable."""
    if settings.redis_url:
        import redis

        lock = _redis(settings.redis_url).lock(
            f"cnn_demo:lock:{name}", timeout=REDIS_LOCK_TTL_S, blocking_timeout=wait_s
        )
        try:
            got = lock.acquire()
        except redis.RedisError as exc:
            raise InputError("The job queue is not reachable right now; please try again in a minute.") from exc
        if not got:
            raise InputError(BUSY)
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):  # expired meanwhile: nothing to release
                lock.release()
        return
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(settings.state_dir / f".{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise InputError("The server has no room to store this job right now; please try again later.") from exc
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(BUSY) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # releases the flock


def check_shares(s: Settings, owner: str, client: str | None, incoming: int, disk: bool = True) -> None:
    """Refuse a new job (or a resumed one: ``disk=False``) when its user's or address's share is used up.

    Call it under :func:`admission_lock`, with the job created before the lock is released.
    """
    jobs_all = list(scan_jobs(s))
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
    check_disk(s, owner, client, incoming, "job", jobs_all)


def check_disk(
    s: Settings, owner: str, client: str | None, incoming: int, what: str = "job", scanned: list | None = None
) -> None:
    """Refuse ``incoming`` more bytes (a new ``job``, or an ``upload``) when the job folders and stored uploads of
    ``owner``, or of ``client``, would pass their disk share. Call it under :func:`admission_lock`."""
    jobs_all = list(scan_jobs(s)) if scanned is None else scanned
    user_limit, client_limit = s.disk_per_user_mb * 1e6, s.disk_per_address_mb * 1e6
    wait = (
        f"Delete finished jobs you no longer need (the Delete button under a job), or wait: finished jobs, and "
        f"uploads no page has opened, are deleted after {s.artifact_hours:g} hours."
    )
    this = "this job brings" if what == "job" else "this upload needs up to"
    used_user = sum(folder_bytes(f) for f, p, _ in jobs_all if secrets.compare_digest(str(p.get("owner", "")), owner))
    used_user += held_bytes(s, owner=owner)
    if used_user + incoming > user_limit:
        raise InputError(
            f"Your jobs and uploads take {format_mb(used_user)} on the server and {this} {format_mb(incoming)}, "
            f"more than the {format_mb(user_limit)} each user may keep. {wait}"
        )
    if client:
        used_client = sum(folder_bytes(f) for f, p, _ in jobs_all if p.get("client") == client)
        used_client += held_bytes(s, client=client)
        if used_client + incoming > client_limit:
            raise InputError(
                f"Jobs and uploads from your network address take {format_mb(used_client)} on the server and {this} "
                f"{format_mb(incoming)}, more than the {format_mb(client_limit)} one address may keep. {wait}"
            )


@contextlib.contextmanager
def reserve_upload(s: Settings, owner: str, client: str | None, incoming: int, what: str = "upload") -> Iterator[None]:
    """Reserve room for an upload that will store up to ``incoming`` bytes, or raise :class:`InputError` when that
    would take ``owner`` or ``client`` over their disk share; the reservation ends with the block."""
    name = f".reserve-{secrets.token_hex(8)}"
    made: list[Path] = []
    try:
        with admission_lock(s):
            check_disk(s, owner, client, incoming, what)
            for folder in holder_dirs(s, owner, client):
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_text(str(int(incoming)))
                    made.append(folder / name)
                except OSError:
                    continue  # a full disk: the store refuses the upload itself, with its message
        yield
    finally:
        for marker in made:
            with contextlib.suppress(OSError):
                marker.unlink()
