"""Recovery codes under attack: wrong codes are limited per attacker (identity and address), never by locking the
job's owner out, and a new code revokes everyone who opened the job with the old one."""

from __future__ import annotations

import pytest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from tests.jobs_fixture import job_env

KIND = "test_count"
SCHOOL, HOME, CAFE = (jobs.client_key(a) for a in ("192.0.2.10", "198.51.100.7", "203.0.113.50"))


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch)


def wrong(job: str, who: str, where: str | None, n: int) -> None:
    for i in range(n):
        with pytest.raises(InputError, match="does not belong to this job"):
            jobs.claim(job, f"AAAA-AAAA-AAAA-{i:04d}", who, client=where)


def test_someone_with_the_link_cannot_lock_the_owner_out(env):
    job = jobs.submit(KIND, {"steps": 1}, "alice", client=SCHOOL)
    code = jobs.new_recovery_code(job, "alice")
    wrong(job, "mallory", SCHOOL, jobs.RECOVERY_TRIES)
    with pytest.raises(InputError, match="Too many wrong codes"):
        jobs.claim(job, code, "mallory", client=SCHOOL)  # even the right code: mallory is out of tries
    # Alice's phone at home, and her laptop at the school itself, still open it with the code.
    assert jobs.claim(job, code, "alice-phone", client=HOME).job_id == job
    assert jobs.claim(job, code, "alice-laptop", client=SCHOOL).job_id == job


def test_new_identities_from_one_address_share_its_tries(env):
    job = jobs.submit(KIND, {"steps": 1}, "alice", client=SCHOOL)
    code = jobs.new_recovery_code(job, "alice")
    per_address = jobs.RECOVERY_TRIES_PER_ADDRESS
    for k in range(per_address // jobs.RECOVERY_TRIES):  # cleared cookies again and again
        wrong(job, f"mallory-{k}", CAFE, jobs.RECOVERY_TRIES)
    with pytest.raises(InputError, match="Too many wrong codes"):
        jobs.claim(job, "AAAA-AAAA-AAAA-BBBB", "mallory-fresh", client=CAFE)
    assert jobs.claim(job, code, "alice-phone", client=HOME).job_id == job  # another address is unaffected
    # The owner's new code starts every count again.
    code = jobs.new_recovery_code(job, "alice")
    assert jobs.claim(job, code, "alice-cafe", client=CAFE).job_id == job


def test_a_new_code_revokes_everyone_who_opened_the_job_with_the_old_one(env):
    job = jobs.submit(KIND, {"steps": 1}, "alice", client=SCHOOL)
    old = jobs.new_recovery_code(job, "alice")
    jobs.claim(job, old, "someone", client=CAFE)
    assert [j.job_id for j in jobs.list_jobs("someone")] == [job]
    new = jobs.new_recovery_code(job, "alice")
    for act in (jobs.status, jobs.cancel, jobs.delete, jobs.new_recovery_code):
        with pytest.raises(jobs.NotYourJob):
            act(job, "someone")
    assert jobs.list_jobs("someone") == []
    with pytest.raises(InputError, match="does not belong"):
        jobs.claim(job, old, "someone", client=CAFE)
    assert jobs.status(job, "alice").state == "queued"  # the owner keeps it
    jobs.claim(job, new, "alice-phone", client=HOME)
    jobs.new_recovery_code(job, "alice-phone")  # a claimer's new code keeps the claimer, and the submitter
    assert jobs.status(job, "alice-phone").job_id == job and jobs.status(job, "alice").job_id == job
