"""Recovery codes: open a job in another browser or device; wrong codes are limited per attacker, not per job.

A job's code is stored as a hash only (``recovery.json``: hash, and the wrong tries counted per identity and per
address). Wrong tries are limited for whoever makes them (:data:`RECOVERY_TRIES` per identity,
:data:`RECOVERY_TRIES_PER_ADDRESS` per address, so cleared cookies do not give more), and the count is checked and
taken under a lock before the code is compared, so fifty parallel guesses are evaluated no more often than ten
sequential ones. Someone with the job's link can therefore spend their own tries, never the owner's: the owner's
other devices (another identity, usually another address) keep theirs, and a new code starts every count again.
A new code also revokes everyone who opened the job with the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets

from cnn_demo.errors import InputError
from cnn_demo.jobs.admission import admission_lock
from cnn_demo.jobs.index import index_owner, job_snapshot
from cnn_demo.jobs.records import (
    CODE_ALPHABET,
    DAMAGED,
    NOT_FOUND,
    RECOVERY_TRIES,
    JobStatus,
    is_owner,
    job_dir,
    owned_job,
    owner_key,
    owner_marker,
    read_json,
    read_owners,
    read_params,
    write_json,
)
from cnn_demo.settings import Settings, get_settings

#: Wrong recovery codes accepted from one network address per job (several identities: cleared cookies).
RECOVERY_TRIES_PER_ADDRESS = 30

TOO_MANY = (
    "Too many wrong codes were entered for this job from this browser or network, so it cannot be opened with a "
    "recovery code from here. Make a new code in the browser that started the job (New recovery code) and enter "
    "that one."
)
NO_CODE = (
    "This job cannot be opened with a recovery code right now (it has none). Make a new code in the browser that "
    "started it (New recovery code) and enter that one."
)


def _code_hash(code: str) -> str:
    return hashlib.sha256(b"cnn-demo-recovery:" + code.encode()).hexdigest()


def _normalise_code(code: str) -> str:
    return "".join(c for c in str(code).upper() if c.isalnum())


def _record(folder) -> dict:
    """The job's ``recovery.json`` with the types it must have; ``{}`` when there is none or it is damaged."""
    raw = read_json(folder / "recovery.json")
    if not isinstance(raw, dict) or not isinstance(raw.get("hash"), str):
        return {}
    tries = raw.get("tries")
    if not isinstance(tries, dict) or not all(isinstance(v, int) for v in tries.values()):
        tries = {}
    return {"hash": raw["hash"], "tries": tries}


def new_recovery_code(job_id: str, owner: str, settings: Settings | None = None) -> str:
    """A fresh recovery code for one of ``owner``'s jobs; only its hash is stored.

    The previous code stops working, everyone who opened the job with it loses it (except ``owner``, when
    ``owner`` is one of them), and every count of wrong tries starts again. With the job's link and this code the
    job opens in any other browser or device (:func:`claim`).
    """
    s = settings or get_settings()
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))  # 30**16: about 78 bits
    with admission_lock(s, "codes"):
        folder, params = owned_job(s, job_id, owner)
        revoked = [o for o in read_owners(folder) if not secrets.compare_digest(o, owner)]
        write_json(folder / "recovery.json", {"hash": _code_hash(code), "tries": {}})
        submitter = str(params.get("owner", ""))
        write_json(folder / "owners.json", [] if secrets.compare_digest(submitter, owner) else [owner])
        for gone in revoked:
            with contextlib.suppress(OSError):
                owner_marker(s, gone, job_id).unlink()
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


def claim(
    job_id: str, code: str, owner: str, settings: Settings | None = None, *, client: str | None = None
) -> JobStatus:
    """Open a job started elsewhere with its recovery code: ``owner`` may see, cancel and resume it from now on.

    ``client`` is the :func:`~cnn_demo.jobs.client_key` of the address the code comes from. After
    :data:`RECOVERY_TRIES` wrong codes from one identity, or :data:`RECOVERY_TRIES_PER_ADDRESS` from one address,
    further tries from there are refused without being compared.
    """
    s = settings or get_settings()
    if not owner:
        raise InputError("Jobs need an owner.")
    folder = job_dir(s, job_id)
    with admission_lock(s, "codes"):
        params = read_params(folder)
        if not params or params is DAMAGED:
            raise InputError(NOT_FOUND)
        if is_owner(folder, params, owner):
            return job_snapshot(s, folder, params, None)
        record = _record(folder)
        if not record:
            raise InputError(NO_CODE)
        tries = record["tries"]
        keys = {"id:" + owner_key(owner): RECOVERY_TRIES}
        if client:
            keys["address:" + client] = RECOVERY_TRIES_PER_ADDRESS
        left = min(limit - tries.get(key, 0) for key, limit in keys.items())
        if left <= 0:
            raise InputError(TOO_MANY)
        given = _normalise_code(code)
        if not given or not secrets.compare_digest(_code_hash(given), record["hash"]):
            for key in keys:
                tries[key] = tries.get(key, 0) + 1
            write_json(folder / "recovery.json", record)
            raise InputError(
                f"That recovery code does not belong to this job. Check it and try again ({left - 1} tries left)."
            )
        write_json(folder / "owners.json", [*read_owners(folder), owner])
    index_owner(s, job_id, owner)
    return job_snapshot(s, folder, params, None)
