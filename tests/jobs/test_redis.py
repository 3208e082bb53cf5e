"""Scale-out: the job queue on a real Redis with two workers; one is killed mid-job and the other finishes it."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from cnn_demo import jobs
from tests.conftest import free_port
from tests.jobs.test_jobs import Worker, wait_for
from tests.jobs_fixture import job_env

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
def redis_url(tmp_path):
    if not os.path.exists(REDIS):
        pytest.skip("redis-server is not installed (.ci/run installs Debian's redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    wait_for(lambda: _ping(client), 20, "redis-server to answer")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ping(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def test_two_workers_on_redis_one_killed_mid_job_the_other_recovers_it(redis_url, tmp_path, monkeypatch):
    # tmp_path/state: the folder every worker mounts
    env = job_env(tmp_path, monkeypatch, CNN_DEMO_REDIS_URL=redis_url, CNN_DEMO_AUTO_RESUME="1")
    assert type(jobs.get_huey()).__name__ == "RedisHuey"
    log = tmp_path / "workers.log"
    workers = [Worker(env, log), Worker(env, log)]
    try:
        job = jobs.submit("test_count", {"steps": 16, "sleep": 0.25}, "alice")
        wait_for(lambda: jobs.status(job, "alice").done >= 3, 180, "three steps")
        pid = _running_pid(job)
        victim = next(w for w in workers if os.getpgid(pid) == w.proc.pid)
        survivor = next(w for w in workers if w is not victim)
        victim.kill()
        st = wait_for(
            lambda: (s := jobs.status(job, "alice")).state in ("done", "failed") and s, 90, "the job to be recovered"
        )
        assert st.state == "done", (st.error, log.read_text()[-3000:])
        assert st.resumes == 1 and st.result["started_at"] >= 3
        first, second = st.result["pids"]
        assert first == pid and second != pid
        assert os.getpgid(second) == survivor.proc.pid  # the other worker finished it
        assert [m["step"] for m in st.metrics] == list(range(1, 17))
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.stop()


def _running_pid(job_id: str) -> int:
    import json

    from cnn_demo.settings import get_settings

    status = json.loads((get_settings().jobs_dir / job_id / "status.json").read_text())
    assert status["state"] == "running"
    return int(status["pid"])


def test_a_redis_restart_without_persistence_does_not_leave_jobs_waiting_forever(redis_url, tmp_path, monkeypatch):
    """Redis restarted without its data forgets the queued tasks; the job folders remember, and a worker queues
    them again (at start-up here; its watchdog does the same while it runs)."""
    import redis

    env = job_env(
        tmp_path, monkeypatch, CNN_DEMO_REDIS_URL=redis_url, CNN_DEMO_HEARTBEAT_TIMEOUT="20", CNN_DEMO_WORKER_NICE="0"
    )
    job = jobs.submit("test_count", {"steps": 2}, "alice")
    redis.Redis.from_url(redis_url).flushall()  # what a restart without persistence leaves
    assert jobs.status(job, "alice").queue_position == 1  # the page would say "position 1" forever
    worker = Worker(env, tmp_path / "worker.log")
    try:
        st = wait_for(lambda: (s := jobs.status(job, "alice")).state in ("done", "failed") and s, 180, "the job")
        assert st.state == "done", (tmp_path / "worker.log").read_text()[-3000:]
        assert "lost this job" in " ".join(st.log_tail)
    finally:
        worker.stop()
