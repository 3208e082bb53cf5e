"""Training yields the CPU to the web server, also where Linux shares the CPU between sessions (autogroup).

With autogroup on, every session is a scheduling group and the groups share the CPU equally whatever the
niceness of their processes; a worker in a session of its own must lower its group, or its jobs get as much CPU
as the whole web server. ``serve`` starts the worker that way and must not leave it behind when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cnn_demo import jobs
from tests.conftest import ROOT, free_port, wait_http
from tests.jobs.test_jobs import Worker, wait_for


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    """A private state folder for the worker (and this process), and the test job kind."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CNN_DEMO_JOB_MODULES", "tests.jobs_fixture")
    monkeypatch.delenv("CNN_DEMO_WORKER_NICE", raising=False)
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


needs_autogroup = pytest.mark.skipif(
    not jobs.autogroup_enabled(), reason="this kernel does not group sessions (autogroup)"
)


def _autogroup_nice(pid: int) -> int:
    """The niceness of the scheduling group ``pid`` belongs to ('/autogroup-42 nice 10' -> 10)."""
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def _log_says(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


@needs_autogroup
def test_a_worker_leading_its_session_lowers_its_scheduling_group(env, tmp_path):
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    log = tmp_path / "worker.log"
    worker = Worker({**env, "CNN_DEMO_WORKER_NICE": "7"}, log)  # started in a session of its own
    try:
        wait_for(lambda: _log_says(log, "worker: queue"), 60, "the worker to start")
        pid = worker.proc.pid
        assert os.getsid(pid) == pid
        assert _autogroup_nice(pid) == 7
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, own_nice + 7)
        assert "scheduling group at nice 7" in log.read_text()
        # Its job processes (Huey's) are in the same, lowered group.
        children = wait_for(lambda: psutil.Process(pid).children(), 30, "the worker's job processes")  # forked after
        assert all(_autogroup_nice(c.pid) == 7 for c in children)
    finally:
        worker.stop()


# A process in the boot session's group, which no setsid has left (CI's, under its init), reads an empty file.
PROBE = """
import json, os, sys
from cnn_demo import jobs
group = lambda: open("/proc/self/autogroup").read().strip() or "the default group"
before = group()
said = jobs.lower_priority(int(sys.argv[1]))
print(json.dumps({"said": said, "before": before, "after": group(), "nice": os.getpriority(os.PRIO_PROCESS, 0)}))
"""


@needs_autogroup
def test_a_worker_sharing_a_session_leaves_the_group_alone_and_says_why():
    """A worker started from a shell shares the shell's group: lowering it would slow everything in the session."""
    own_nice = os.getpriority(os.PRIO_PROCESS, 0)
    out = subprocess.run([sys.executable, "-c", PROBE, "5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == seen["after"]  # the shared group keeps its priority
    assert seen["nice"] == min(19, own_nice + 5)  # the process itself still yields inside the group
    assert "session of its own" in seen["said"]


def test_no_niceness_changes_nothing():
    assert jobs.lower_priority(0) == "normal CPU priority"


def _serve(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_demo", "serve", "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, port


def _worker_of(serve: subprocess.Popen) -> psutil.Process | None:
    for child in psutil.Process(serve.pid).children():
        if "worker" in child.cmdline():
            return child
    return None


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("how", ["terminate", "kill"])
def test_serve_runs_its_worker_in_a_lowered_session_and_leaves_nothing_behind(env, tmp_path, how):
    serve, port = _serve(env, tmp_path)
    app = None
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=120)
        worker = wait_for(lambda: _worker_of(serve), 30, "serve's worker")
        app = next(c for c in psutil.Process(serve.pid).children() if "cnn_demo.ui.launch" in c.cmdline())
        assert os.getsid(worker.pid) == worker.pid != os.getsid(serve.pid)
        if jobs.autogroup_enabled():
            wait_for(lambda: _autogroup_nice(worker.pid) == 10, 30, "the worker to lower its group")
            assert _autogroup_nice(app.pid) == 0  # the web server keeps its share
        # the consumer forks its job processes once the job modules are loaded, which takes a while under load
        children = wait_for(lambda: worker.children(recursive=True), 60, "the worker's job processes")
        family = [worker, *children]  # the consumer and its job processes
        t0 = time.monotonic()
        if how == "terminate":
            os.killpg(serve.pid, signal.SIGTERM)  # what a service manager or a test fixture does
        else:
            os.kill(serve.pid, signal.SIGKILL)  # serve dies without running any clean-up
        serve.wait(timeout=30)
        wait_for(lambda: all(_gone(p) for p in [app, *family]), 20, "the web server, worker and jobs to stop")
        assert time.monotonic() - t0 < 20
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
        if app is not None and not _gone(app):
            app.kill()
