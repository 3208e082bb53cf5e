"""What pages ask of the job system: submit within fair shares, see, cancel, resume, delete, recovery codes."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from cnn_demo.errors import InputError
from cnn_demo.jobs.admission import admission_lock, check_shares
from cnn_demo.jobs.backends import enqueue, requeue
from cnn_demo.jobs.context import load_job_modules
from cnn_demo.jobs.index import (
    drop_owner_marker,
    index_owner,
    job_owners,
    job_snapshot,
    mark_queued,
    owned_job_ids,
    queued_order,
    unindex,
    unmark_queued,
)
from cnn_demo.jobs.names import clean_display_name
from cnn_demo.jobs.records import (
    DAMAGED,
    FILE_NAME_RE,
    JobStatus,
    is_owner,
    owned_job,
    read_params,
    read_status,
    write_json,
)
from cnn_demo.settings import Settings, get_settings


def submit(
    kind: str,
    params: dict[str, Any],
    owner: str,
    files: dict[str, bytes] | None = None,
    settings: Settings | None = None,
    *,
    client: str | None = None,
    display_name: str | None = None,
) -> str:
    """Queue a job of ``kind`` for ``owner``; return its unguessable id.

    ``files`` are written to the job's ``inputs/`` folder (names without folders). ``client`` is the
    :func:`client_key` of the address it came from: fair shares hold per user *and* per address, so new
    identities (cleared cookies, private windows) do not give one person more of the queue or the disk.
    ``display_name`` is the name the student gave themselves (:func:`~cnn_demo.jobs.names.clean_display_name`),
    shown to the teacher. Raises :class:`InputError` when the queue, a quota or a disk share is full, or
    ``params`` is not JSON.
    """
    s = settings or get_settings()
    if not owner:
        raise InputError("Jobs need an owner.")
    name = clean_display_name(display_name)
    if kind not in load_job_modules(s):
        raise InputError(f"Unknown job kind {kind!r}.")
    try:
        params_json = json.loads(json.dumps(params))
    except (TypeError, ValueError) as exc:
        raise InputError("Job parameters must be plain numbers, strings, lists and dicts.") from exc
    for file_name in files or {}:
        if not FILE_NAME_RE.match(file_name) or file_name.startswith("."):
            raise InputError(f"Bad input file name {file_name!r}.")
    job_id = secrets.token_urlsafe(16)
    folder = s.jobs_dir / job_id
    try:
        with admission_lock(s):  # the shares are checked and the job created in one step
            check_shares(s, owner, client, sum(len(b) for b in (files or {}).values()))
            (folder / "inputs").mkdir(parents=True)
            for file_name, data in (files or {}).items():
                (folder / "inputs" / file_name).write_bytes(data)
            now = time.time()
            record = {"kind": kind, "params": params_json, "owner": owner, "client": client, "created": now}
            if name:
                record["display_name"] = name
            write_json(folder / "params.json", record)
            status = {"state": "queued", "done": 0, "total": 0, "queued_at": now, "resumes": 0}
            write_json(folder / "status.json", status)
        index_owner(s, job_id, owner)
        mark_queued(s, job_id, now)
        enqueue(s, job_id)
    except BaseException as exc:
        # A refused submit leaves nothing behind: no folder holding the uploaded dataset, no job in the list.
        shutil.rmtree(folder, ignore_errors=True)
        unindex(s, job_id, [owner])
        if isinstance(exc, OSError):
            raise InputError("The server has no room to store this job right now; please try again later.") from exc
        raise
    return job_id


def delete(job_id: str, owner: str, settings: Settings | None = None) -> None:
    """Delete one of ``owner``'s finished jobs with everything it stored (frees their disk quota)."""
    s = settings or get_settings()
    folder, params = owned_job(s, job_id, owner)
    if job_snapshot(s, folder, params, None).active:
        raise InputError("Cancel this job before deleting it.")
    owners = job_owners(folder, params)
    shutil.rmtree(folder, ignore_errors=True)
    unindex(s, job_id, [*owners, owner])


#: The key of every client whose address is unknown (the app started without ``serve``'s middleware): they share
#: one address's share rather than escaping the per-address limits.
UNKNOWN_CLIENT = hashlib.sha256(b"cnn-demo-client:unknown").hexdigest()[:24]


def client_key(address: str | None) -> str:
    """A stable key for a client address (IPv6: its /64, what one household or phone gets); every unknown or
    unreadable address gets :data:`UNKNOWN_CLIENT`.

    Only this hash is stored with a job, never the address itself.
    """
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return UNKNOWN_CLIENT
    net = ipaddress.ip_network(f"{ip}/64", strict=False) if ip.version == 6 else ipaddress.ip_network(ip)
    return hashlib.sha256(f"cnn-demo-client:{net}".encode()).hexdigest()[:24]


def status(job_id: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """The current state of one of ``owner``'s jobs; :class:`InputError` for anyone else's or unknown ids."""
    s = settings or get_settings()
    folder, params = owned_job(s, job_id, owner)
    return job_snapshot(s, folder, params, None)


def list_jobs(owner: str, settings: Settings | None = None) -> list[JobStatus]:
    """``owner``'s jobs, newest first.

    Reads only ``owner``'s job folders (through the per-owner index) and the queue index: a page calls this on
    every rerun, and other users' jobs are none of its business.
    """
    s = settings or get_settings()
    if not owner:
        return []
    order = queued_order(s)
    out = []
    for job_id in owned_job_ids(s, owner):
        folder = s.jobs_dir / job_id
        params = read_params(folder)
        if params is None:
            drop_owner_marker(s, owner, job_id)  # deleted (expired) since
            continue
        if params is DAMAGED:  # the index says it is this owner's: shown as damaged, so it can be deleted
            out.append(job_snapshot(s, folder, {}, order))
        elif (folder / "status.json").is_file() and is_owner(folder, params, owner):
            out.append(job_snapshot(s, folder, params, order))
    return sorted(out, key=lambda j: j.created, reverse=True)


def job_folder(job_id: str, owner: str, settings: Settings | None = None) -> Path:
    """The folder one of ``owner``'s jobs writes its files into (previews, predictions); :class:`InputError` else."""
    s = settings or get_settings()
    folder, _ = owned_job(s, job_id, owner)
    return folder


def job_file(job_id: str, owner: str, name: str, settings: Settings | None = None) -> Path | None:
    """Path of a file the job wrote into its folder (e.g. an exported model), or ``None`` if absent."""
    s = settings or get_settings()
    folder, _ = owned_job(s, job_id, owner)
    if not FILE_NAME_RE.match(name) or name.startswith("."):
        raise InputError(f"Bad file name {name!r}.")
    path = folder / name
    return path if path.is_file() else None


def cancel(job_id: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next progress report."""
    s = settings or get_settings()
    folder, params = owned_job(s, job_id, owner)
    cancel_folder(s, folder)
    return job_snapshot(s, folder, params, None)


def cancel_folder(s: Settings, folder: Path) -> None:
    """Cancel the job in ``folder``, whoever's it is (the teacher's :func:`~cnn_demo.jobs.admin.cancel_any` too)."""
    (folder / "cancel").touch()
    st = read_status(folder)
    if isinstance(st, dict) and st.get("state") == "queued":
        st.update(state="cancelled", finished=time.time())
        write_json(folder / "status.json", st)
        unmark_queued(s, folder.name)


def resume(job_id: str, owner: str, settings: Settings | None = None) -> JobStatus:
    """Queue an interrupted, cancelled or failed job again; it continues from its last checkpoint."""
    s = settings or get_settings()
    folder, params = owned_job(s, job_id, owner)
    with admission_lock(s):
        snap = job_snapshot(s, folder, params, None)
        if not snap.resumable:
            raise InputError(f"This job is {snap.state}; only interrupted, cancelled or failed jobs can be resumed.")
        # Resuming is a new turn: it counts against the shares like a new job.
        check_shares(s, str(params.get("owner", "")), params.get("client"), 0, disk=False)
        requeue(s, folder, automatic=False)
    return job_snapshot(s, folder, params, None)
