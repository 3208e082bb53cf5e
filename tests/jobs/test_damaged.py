"""A damaged job folder (a crash, a full disk or a hand edit) makes that one job "damaged": its owner sees it so,
everyone else's submits, lists and the worker's watchdog go on; logs and metrics are read by their tail only."""

from __future__ import annotations

import socket
import time
import tracemalloc

import pytest
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.settings import Settings
from tests.conftest import shown_errors
from tests.hostile import damaged_job_files, damaged_side_files
from tests.jobs_fixture import job_env
from tests.ui.test_jobs import KIND, panel_page

CASES = damaged_job_files()


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch, CNN_DEMO_JOBS_PER_USER="3", CNN_DEMO_QUEUE_CAPACITY="6")


def damage(job: str, name: str, data: bytes) -> None:
    folder = Settings.from_env().jobs_dir / job
    (folder / name).write_bytes(data.replace(b"{host}", socket.gethostname().encode()))


def watchdog_pass(s: Settings) -> None:
    """What the worker's watchdog runs every few seconds, and its start-up recovery."""
    jobs.recover(s, restart=True)
    jobs.recover(s)
    jobs.reconcile_queue(s, grace_s=0)
    from cnn_demo.jobs.index import sync_index

    sync_index(s, owners=True)
    jobs.cleanup_expired(s)


@pytest.mark.parametrize(("name", "data"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_a_damaged_file_makes_one_job_damaged_and_nothing_else_fails(env, name, data):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 1}, "alice")
    if name == "result.json":
        assert jobs.run_job(job) == "done"
    others = jobs.submit(KIND, {"steps": 1}, "bob")
    damage(job, name, data)

    st = jobs.status(job, "alice")
    assert st.state == "damaged" and name in st.error and not st.active and not st.resumable
    assert [j.state for j in jobs.list_jobs("alice")] == ["damaged"]
    with pytest.raises(InputError, match="only interrupted, cancelled or failed"):
        jobs.resume(job, "alice")
    with pytest.raises(InputError, match="another browser" if name != "params.json" else "no job with this id"):
        jobs.status(job, "bob")  # still no one else's (whose it is is unreadable: then it is no one's)
    # Everyone else: submit, list, the watchdog and a worker handed the damaged job.
    jobs.submit(KIND, {"steps": 1}, "carol")
    assert [j.state for j in jobs.list_jobs("bob")] == ["queued"]
    watchdog_pass(s)
    assert jobs.run_job(job) in ("damaged", "done", "missing")
    assert jobs.run_job(others) == "done"
    # The owner may delete it, which frees its place in the list.
    jobs.delete(job, "alice")
    assert jobs.list_jobs("alice") == []


@pytest.mark.parametrize(("name", "data"), damaged_side_files(), ids=lambda v: v if isinstance(v, str) else "")
def test_damaged_side_files_leave_the_job_readable(env, name, data):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 2}, "alice")
    code = jobs.new_recovery_code(job, "alice")
    damage(job, name, data)
    st = jobs.status(job, "alice")
    assert st.state == "queued"
    if name == "metrics.jsonl":
        assert st.metrics == [{"step": 1, "loss": 0.5}]
    if name == "recovery.json":
        with pytest.raises(InputError, match="cannot be opened with a recovery code right now"):
            jobs.claim(job, code, "phone")  # the stored code is unreadable: it opens nothing
        jobs.new_recovery_code(job, "alice")  # and the owner can make a new one
    else:
        assert jobs.claim(job, code, "phone").job_id == job
    watchdog_pass(s)
    assert jobs.run_job(job) == "done"


def test_the_panel_shows_a_damaged_job_to_its_owner(env):
    at = AppTest.from_function(panel_page, kwargs={"kind": KIND}, default_timeout=60)
    at.run()
    at.button(key="t_train").click().run()
    job = at.query_params["job"][0] if isinstance(at.query_params["job"], list) else at.query_params["job"]
    damage(job, "status.json", b"[" * 100_000)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown) + " ".join(shown_errors(at))
    assert "Damaged" in text and "status.json" in text
    assert "Delete this job" in {b.label for b in at.button}


def test_a_huge_log_is_read_by_its_tail(env):
    job = jobs.submit(KIND, {"steps": 1}, "alice")
    log = Settings.from_env().jobs_dir / job / "log.txt"
    with log.open("wb") as f:
        f.truncate(400_000_000)  # sparse: 400 MB to read, none of it on disk
        f.seek(0, 2)
        f.write(b"\nthe last line\n")
    tracemalloc.start()
    t0 = time.perf_counter()
    st = jobs.status(job, "alice")
    took = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert st.log_tail[-1] == "the last line"
    assert took < 0.5 and peak < 5_000_000, (took, peak)
