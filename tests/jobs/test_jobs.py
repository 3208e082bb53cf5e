"""The job system: submission limits, ownership, progress, cancel, crash recovery and resume, with real workers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.settings import Settings
from tests.conftest import ROOT
from tests.jobs_fixture import job_env

KIND = "test_count"
ENDED = ("done", "failed", "cancelled", "interrupted")


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """Environment for this process and its workers: a private state folder and the test job kind."""
    return job_env(tmp_path, monkeypatch, CNN_DEMO_JOBS_PER_USER="3", CNN_DEMO_QUEUE_CAPACITY="4")


def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Worker:
    """``python -m cnn_demo worker`` in its own process group, killable like a crashed machine."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cnn_demo", "worker"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the consumer and its job processes at once (no clean-up code runs)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        """SIGTERM, as ``make run`` does on exit."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


# ----------------------------------------------------------------------------- in-process


def test_submit_queue_positions_ownership_and_limits(env):
    a = jobs.submit(KIND, {"steps": 2}, "alice")
    b = jobs.submit(KIND, {"steps": 2}, "bob")
    c = jobs.submit(KIND, {"steps": 2}, "alice")
    assert len({a, b, c}) == 3 and all(len(j) >= 20 for j in (a, b, c))
    assert [jobs.status(j, o).queue_position for j, o in ((a, "alice"), (b, "bob"), (c, "alice"))] == [1, 2, 3]
    st = jobs.status(a, "alice")
    assert (st.state, st.kind, st.params, st.done, st.result) == ("queued", KIND, {"steps": 2}, 0, None)
    # Nobody sees, cancels, resumes or deletes someone else's job; the message says it is another browser's or
    # sign-in's (the unguessable id is all it confirms) and points to the recovery code, nothing about the job.
    for call in (jobs.status, jobs.cancel, jobs.resume, jobs.delete, jobs.job_folder, jobs.new_recovery_code):
        with pytest.raises(jobs.NotYourJob, match="another browser or under another sign-in") as caught:
            call(a, "bob")
        assert str(caught.value) == jobs.NOT_YOURS
    assert [j.job_id for j in jobs.list_jobs("alice")] == [c, a]
    assert [j.job_id for j in jobs.list_jobs("bob")] == [b]
    # Ids are checked before any path is built from them.
    for bad in ("../../etc", "", "a/b", "x" * 200):
        with pytest.raises(InputError):
            jobs.status(bad, "alice")
    jobs.submit(KIND, {"steps": 2}, "alice")
    with pytest.raises(InputError, match="You already have 3 job"):
        jobs.submit(KIND, {"steps": 2}, "alice")
    with pytest.raises(InputError, match="queue is full"):
        jobs.submit(KIND, {"steps": 2}, "carol")
    with pytest.raises(InputError, match="Unknown job kind"):
        jobs.submit("no_such_kind", {}, "carol")
    with pytest.raises(InputError, match="plain numbers"):
        jobs.submit(KIND, {"steps": object()}, "carol")
    # Cancelling a queued job frees a place at once.
    assert jobs.cancel(b, "bob").state == "cancelled"
    assert jobs.status(c, "alice").queue_position == 2
    jobs.submit(KIND, {"steps": 2}, "carol")


def test_run_in_process_progress_result_failure_and_cancel(env):
    job = jobs.submit(KIND, {"steps": 4}, "alice")
    assert jobs.run_job(job) == "done"
    st = jobs.status(job, "alice")
    assert (st.state, st.done, st.total, st.fraction) == ("done", 4, 4, 1.0)
    assert [m["step"] for m in st.metrics] == [1, 2, 3, 4]
    assert st.metrics[-1]["loss"] == pytest.approx(0.25)
    assert st.result["counted"] == 4 and st.result["started_at"] == 0
    assert any("finished" in line for line in st.log_tail)
    assert jobs.run_job(job) == "done"  # a duplicate delivery of the task does nothing

    failing = jobs.submit(KIND, {"steps": 4, "fail_at": 3}, "alice")
    assert jobs.run_job(failing) == "failed"
    st = jobs.status(failing, "alice")
    assert st.state == "failed" and "error inside the app" in st.error and st.done == 2
    assert st.resumable
    # The student sees neither the raw exception nor where it ran; the operator's log has both.
    shown = st.error + "\n".join(st.log_tail)
    assert "boom" not in shown and "RuntimeError" not in shown and socket.gethostname() not in shown
    ref = re.search(r"reference ([0-9a-f]{8})", st.error).group(1)
    assert any(ref in line for line in st.log_tail)

    cancelled = jobs.submit(KIND, {"steps": 4}, "alice")
    (Settings.from_env().jobs_dir / cancelled / "cancel").touch()  # as if the user pressed cancel mid-run
    (Settings.from_env().jobs_dir / cancelled / "status.json").write_text(json.dumps({"state": "queued"}))
    assert jobs.run_job(cancelled) == "cancelled"
    with pytest.raises(InputError, match="only interrupted, cancelled or failed"):
        jobs.resume(job, "alice")


def test_interrupted_detection_recover_claims_and_expiry(env):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 3}, "alice")
    folder = s.jobs_dir / job
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    status = {"state": "running", "host": socket.gethostname(), "pid": int(dead.stdout), "done": 1, "total": 3}
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "heartbeat").touch()
    st = jobs.status(job, "alice")
    assert st.state == "interrupted" and "Resume it" in st.error
    assert jobs.recover(s) == []  # auto_resume is 0 in these tests
    auto = Settings.from_env({**env, "CNN_DEMO_AUTO_RESUME": "1"})
    assert jobs.recover(auto) == [job]
    assert jobs.status(job, "alice").state == "queued"
    (folder / "status.json").write_text(json.dumps({**status, "resumes": 1, "auto_resumes": 1}))
    assert jobs.recover(auto) == []  # its one automatic resume is used up
    # A running job on another machine is judged by its heartbeat only.
    (folder / "status.json").write_text(json.dumps({**status, "host": "elsewhere", "pid": 1}))
    assert jobs.status(job, "alice").state == "running"
    os.utime(folder / "heartbeat", (time.time() - 10, time.time() - 10))
    assert jobs.status(job, "alice").state == "interrupted"
    # Finished folders expire after artifact_hours; active ones never do.
    done = jobs.submit(KIND, {"steps": 1}, "alice")
    jobs.run_job(done)
    st = json.loads((s.jobs_dir / done / "status.json").read_text())
    st["finished"] = time.time() - 3 * 3600
    (s.jobs_dir / done / "status.json").write_text(json.dumps(st))
    cache = s.state_dir / "feature-cache"
    cache.mkdir()
    (cache / "old.pt").write_bytes(b"x")
    (cache / "new.pt").write_bytes(b"x")
    os.utime(cache / "old.pt", (time.time() - 3 * 3600, time.time() - 3 * 3600))
    short = Settings.from_env({**env, "CNN_DEMO_ARTIFACT_HOURS": "2"})
    assert jobs.cleanup_expired(short) == [done]
    assert [p.name for p in cache.iterdir()] == ["new.pt"]
    assert not (s.jobs_dir / done).exists()
    with pytest.raises(InputError):
        jobs.status(done, "alice")


def test_unreachable_queue_gives_a_message_and_leaves_nothing_behind(env, monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("CNN_DEMO_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(InputError, match="queue is not reachable"):
        jobs.submit(KIND, {"steps": 1}, "alice", files={"data.zip": b"x" * 1000})
    assert jobs.list_jobs("alice") == []  # the refused submit left no folder (nor its files) behind
    folder = Settings.from_env().jobs_dir
    assert not folder.exists() or not any(folder.iterdir())


# ----------------------------------------------------------------------------- real workers


def test_worker_killed_mid_run_then_resume_and_restart_keeps_results(env, tmp_path):
    log = tmp_path / "worker.log"
    worker = Worker(env, log)
    try:
        job = jobs.submit(KIND, {"steps": 12, "sleep": 0.25}, "alice")
        wait_for(lambda: jobs.status(job, "alice").done >= 3, 180, "three steps")
        st = jobs.status(job, "alice")
        assert st.state == "running" and st.eta_s is not None and st.eta_s > 0
        worker.kill()
        # The killed job process may take a moment to exit (a large address space, a busy machine).
        st = wait_for(lambda: (x := jobs.status(job, "alice")).state != "running" and x, 20, "the job process to end")
        assert st.state == "interrupted", log.read_text()
        stopped_at = st.done
        assert 3 <= stopped_at < 12

        jobs.resume(job, "alice")
        assert jobs.status(job, "alice").state == "queued"
        worker = Worker(env, log)
        st = wait_for(
            # not "interrupted": with a 3 s heartbeat timeout a busy machine reads a late heartbeat so for a moment
            lambda: (s := jobs.status(job, "alice")).state in ("done", "failed", "cancelled") and s,
            120,
            "the resumed job to end",
        )
        assert st.state == "done", (st.error, log.read_text())
        assert st.result["started_at"] >= stopped_at - 1  # continued from its last checkpoint, not from 0
        assert len(st.result["pids"]) == 2  # two different processes did the work
        assert [m["step"] for m in st.metrics] == list(range(1, 13))  # the history has no gap and no repeat
        assert st.resumes == 1

        # A second job is cancelled while it runs.
        other = jobs.submit(KIND, {"steps": 50, "sleep": 0.2}, "alice")
        wait_for(lambda: jobs.status(other, "alice").done >= 1, 60, "the second job to start")
        jobs.cancel(other, "alice")
        wait_for(lambda: jobs.status(other, "alice").state == "cancelled", 30, "the cancel")
        assert jobs.status(other, "alice").done < 50

        # Server restart: finished results are still there, and the new worker does not run them again. A new job
        # finishing shows the restarted worker has recovered the queue and taken what it holds (no fixed wait).
        before = jobs.status(job, "alice")
        worker.stop()
        worker = Worker(env, log)
        probe = jobs.submit(KIND, {"steps": 1}, "alice")
        assert (
            wait_for(
                lambda: (s := jobs.status(probe, "alice")).state in ENDED and s, 120, "a job on the restarted worker"
            ).state
            == "done"
        )
        st = jobs.status(job, "alice")
        assert st.state == "done" and st.result == before.result and st.result["counted"] == 12
        assert st.resumes == before.resumes and st.metrics == before.metrics
        assert jobs.status(other, "alice").state == "cancelled"
    finally:
        worker.stop()
