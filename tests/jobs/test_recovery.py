"""Recovery (issue #14, part 4): a job never waits forever, a worker restart costs no automatic resume, and
``serve`` supervises its worker (restart on death, interrupted jobs re-queued, no process left behind)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import psutil
import pytest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.jobs import backends, recovery
from cnn_demo.settings import Settings
from tests.conftest import ROOT, free_port, wait_http
from tests.jobs.test_jobs import KIND, Worker, wait_for
from tests.jobs_fixture import job_env

OWNER = "alice"
ENDED = ("done", "failed", "cancelled")  # not "interrupted": a heartbeat late under load reads so for a moment


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """A private state folder and the test job kind, for this process and the workers it starts."""
    # A worker yielding to every other process on a busy test machine starves: normal priority.
    return job_env(tmp_path, monkeypatch, CNN_DEMO_HEARTBEAT_TIMEOUT="20", CNN_DEMO_WORKER_NICE="0")


def _dead_pid() -> int:
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(out.stdout)


def _status(job: str) -> dict:
    return json.loads((Settings.from_env().jobs_dir / job / "status.json").read_text())


def _cut_off(job: str) -> None:
    """What a worker killed mid-job leaves: a running status whose process is gone."""
    folder = Settings.from_env().jobs_dir / job
    st = {**_status(job), "state": "running", "host": socket.gethostname(), "pid": _dead_pid(), "done": 1}
    (folder / "status.json").write_text(json.dumps(st))
    (folder / "heartbeat").touch()


def test_a_worker_restart_requeues_cut_off_jobs_without_using_an_automatic_resume(env):
    s = Settings.from_env({**env, "CNN_DEMO_AUTO_RESUME": "1"})
    job = jobs.submit(KIND, {"steps": 2}, OWNER)
    _cut_off(job)
    assert jobs.recover(s, restart=True) == [job]
    st = _status(job)
    assert st["state"] == "queued" and st.get("auto_resumes", 0) == 0 and st["resumes"] == 1
    # The allowance is still whole: a real crash later is re-queued automatically once ...
    _cut_off(job)
    assert jobs.recover(s) == [job] and _status(job)["auto_resumes"] == 1
    # ... and then no more, while another restart still continues it.
    _cut_off(job)
    assert jobs.recover(s) == []
    assert jobs.status(job, OWNER).state == "interrupted"
    _cut_off(job)
    assert jobs.recover(s, restart=True) == [job] and _status(job)["auto_resumes"] == 1
    # A job that keeps taking its worker down gets a few free restarts, then counts like any crash.
    for _ in range(jobs.MAX_RESTART_RESUMES - 2):
        _cut_off(job)
        assert jobs.recover(s, restart=True) == [job]
    assert _status(job)["restart_resumes"] == jobs.MAX_RESTART_RESUMES
    _cut_off(job)
    assert jobs.recover(s, restart=True) == []
    assert jobs.status(job, OWNER).state == "interrupted"
    jobs.resume(job, OWNER)  # the student may still resume it
    assert jobs.run_job(job) == "done"


def test_a_job_the_queue_lost_is_queued_again_and_runs_once(env):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 1}, OWNER)
    jobs.get_huey(s).storage.flush_queue()  # the queue forgot it (file deleted, Redis restarted without data)
    assert jobs.reconcile_queue(s) == []  # just queued: a worker may be taking it right now
    assert jobs.status(job, OWNER).queue_position == 1
    assert jobs.reconcile_queue(s, grace_s=0) == [job]
    assert job in backends.pending_ids(s)
    assert "lost this job" in " ".join(jobs.status(job, OWNER).log_tail)
    jobs.reconcile_queue(s, grace_s=0)  # delivered twice now: it still runs once
    assert jobs.run_job(job) == "done"
    assert jobs.run_job(job) == "done"
    assert jobs.reconcile_queue(s, grace_s=0) == []


def test_a_lost_job_that_cannot_be_queued_again_fails_with_a_message(env, monkeypatch):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 1}, OWNER)
    jobs.get_huey(s).storage.flush_queue()

    def refuse(settings, job_id):
        raise InputError("The job queue is not reachable right now; please try again in a minute.")

    monkeypatch.setattr(recovery, "enqueue", refuse)
    assert jobs.reconcile_queue(s, grace_s=0) == []
    st = jobs.status(job, OWNER)
    assert st.state == "failed" and "queue lost this job" in st.error and st.resumable
    assert jobs.list_jobs(OWNER)[0].state == "failed"  # no longer holds one of the owner's slots


def test_a_worker_started_after_the_queue_file_was_lost_runs_the_waiting_job(env, tmp_path):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 2}, OWNER)
    backends._queue.cache_clear()
    (s.state_dir / "queue.sqlite3").unlink()
    worker = Worker(env, tmp_path / "worker.log")
    try:
        st = wait_for(lambda: (x := jobs.status(job, OWNER)).state in ENDED and x, 90, "the job to end")
        assert st.state == "done", (tmp_path / "worker.log").read_text()
    finally:
        worker.stop()
        backends._queue.cache_clear()


# ----------------------------------------------------------------------------- serve


def _worker_of(serve: subprocess.Popen) -> psutil.Process | None:
    """serve's live worker process (a killed one is a zombie until serve reaps it)."""
    try:
        children = psutil.Process(serve.pid).children()
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if "worker" in child.cmdline():
                return child
        except psutil.Error:
            continue
    return None


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_serve_restarts_a_killed_worker_which_continues_the_job_and_leaves_no_orphan(env, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [sys.executable, "-m", "cnn_demo", "serve", "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT,
        env=env,  # CNN_DEMO_AUTO_RESUME=0: only the restart path may re-queue the job
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def diagnose() -> str:
        folder = Settings.from_env().jobs_dir
        return "\n".join(
            [(tmp_path / "serve.log").read_text()[-4000:]]
            + [p.read_text() for p in folder.glob("*/status.json")]
            + [p.read_text() for p in folder.glob("*/log.txt")]
        )

    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/_stcore/health", timeout=120)
        # Streamlit's statistics endpoint is closed on this server.
        with pytest.raises(urllib.error.HTTPError) as closed:
            urllib.request.urlopen(f"{base}/_stcore/metrics", timeout=10)
        assert closed.value.code == 404

        first = wait_for(lambda: _worker_of(serve), 30, "serve's worker")
        job = jobs.submit(KIND, {"steps": 40, "sleep": 0.1}, OWNER)  # 4 s: still running when its worker dies
        wait_for(lambda: jobs.status(job, OWNER).done >= 2, 240, "the job to run")
        job_pid = int(_status(job)["pid"])
        assert job_pid != first.pid
        os.kill(first.pid, signal.SIGKILL)  # the consumer only: its job process must not go on alone
        wait_for(lambda: _gone(job_pid), 10, "the orphaned job process to stop")
        second = wait_for(lambda: (w := _worker_of(serve)) and w.pid != first.pid and w, 30, "a new worker")
        st = wait_for(lambda: (x := jobs.status(job, OWNER)).state in ENDED and x, 300, "the job to end")
        assert st.state == "done", log.name
        assert st.resumes == 1 and _status(job).get("auto_resumes", 0) == 0
        assert st.result["started_at"] >= 2  # continued from its checkpoint
        assert "starting a new one" in (tmp_path / "serve.log").read_text()
        family = [second.pid, *(p.pid for p in second.children(recursive=True))]
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
        wait_for(lambda: all(_gone(p) for p in family), 20, "the worker and its job processes to stop")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose()}") from exc
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=30)  # reaped before tmp_path (its state folder) goes away
        log.close()
