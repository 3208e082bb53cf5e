"""Capacity a class needs (issue 23): defaults sized from the machine, a class of 30 behind one NAT, queue places."""

from __future__ import annotations

import pytest

from cnn_demo import jobs, settings
from cnn_demo.errors import InputError
from cnn_demo.settings import Settings
from tests.jobs_fixture import job_env

KIND = "test_count"
GIB = 2**30


@pytest.mark.parametrize(
    ("cpus", "memory", "expected"),
    [
        (1, 8 * GIB, (1, 1)),
        (2, 23 * GIB, (2, 1)),  # this project's machines: two jobs side by side, one thread each
        (4, 16 * GIB, (4, 1)),
        (8, 32 * GIB, (4, 2)),
        (64, 512 * GIB, (32, 2)),
        (16, 4 * GIB, (1, 4)),  # memory for one job only: it gets more threads
        (2, None, (2, 1)),  # memory unknown: the CPUs decide
    ],
)
def test_jobs_at_once_and_threads_per_job_come_from_the_machine(cpus, memory, expected, monkeypatch):
    monkeypatch.setattr(settings, "available_memory", lambda: memory)
    assert settings.machine_capacity(cpus, memory) == expected


def test_available_cpus_follows_affinity_and_a_container_quota(monkeypatch):
    monkeypatch.setattr(settings.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.setattr(settings, "_cgroup_cpus", lambda: None)
    assert settings.available_cpus() == 6
    monkeypatch.setattr(settings, "_cgroup_cpus", lambda: 2.5)  # docker run --cpus 2.5
    assert settings.available_cpus() == 2
    monkeypatch.setattr(settings, "_cgroup_cpus", lambda: 0.5)
    assert settings.available_cpus() == 1


def test_defaults_are_the_machines_and_the_environment_overrides_them(monkeypatch):
    monkeypatch.setattr(settings, "machine_capacity", lambda cpus=None, memory=None: (3, 2))
    s = Settings.from_env({})
    assert (s.max_concurrent_jobs, s.torch_threads) == (3, 2)
    assert Settings(state_dir=s.state_dir).max_concurrent_jobs == 3  # built directly (tests, benchmarks): the same
    s = Settings.from_env({"CNN_DEMO_MAX_JOBS": "1", "CNN_DEMO_JOB_THREADS": "4"})
    assert (s.max_concurrent_jobs, s.torch_threads) == (1, 4)


def test_the_queue_holds_several_classes_and_an_address_a_whole_class():
    s = Settings.from_env({})
    assert s.queue_capacity >= 3 * settings.CLASS_SIZE
    assert s.jobs_per_address == settings.CLASS_SIZE * s.jobs_per_user
    assert s.disk_per_address_mb == settings.CLASS_SIZE * s.disk_per_user_mb
    # the per-address shares follow the per-user ones unless set themselves
    s = Settings.from_env({"CNN_DEMO_JOBS_PER_USER": "1", "CNN_DEMO_DISK_PER_USER_MB": "100"})
    assert (s.jobs_per_address, s.disk_per_address_mb) == (settings.CLASS_SIZE, settings.CLASS_SIZE * 100.0)


def test_a_class_of_30_behind_one_nat_all_get_a_job_and_the_per_user_share_holds(tmp_path, monkeypatch):
    job_env(tmp_path, monkeypatch)
    school = jobs.client_key("203.0.113.7")
    ids = [jobs.submit(KIND, {"steps": 1}, f"student{i}", client=school) for i in range(settings.CLASS_SIZE)]
    assert len(set(ids)) == settings.CLASS_SIZE
    jobs.submit(KIND, {"steps": 1}, "student0", client=school)  # a second job of one's own: the fair share is 2
    with pytest.raises(InputError, match="limit is 2"):
        jobs.submit(KIND, {"steps": 1}, "student0", client=school)


# ----------------------------------------------------------------------------- a waiting student's place


def fake_running(s: Settings, job_id: str, ran_s: float) -> None:
    """Make queued ``job_id`` look taken by a live worker (this process) ``ran_s`` seconds ago, no progress yet."""
    import json
    import os
    import socket
    import time

    from cnn_demo.jobs import place
    from cnn_demo.jobs.index import unmark_queued

    folder = s.jobs_dir / job_id
    now = time.time()
    status = {"state": "running", "host": socket.gethostname(), "pid": os.getpid(), "run_started": now - ran_s}
    (folder / "status.json").write_text(json.dumps({**status, "started": now - ran_s, "done": 0, "total": 0}))
    (folder / "heartbeat").touch()
    unmark_queued(s, job_id)
    place.mark_running(s, job_id, KIND)


@pytest.fixture
def queue(tmp_path, monkeypatch) -> Settings:
    job_env(tmp_path, monkeypatch, CNN_DEMO_MAX_JOBS="2", CNN_DEMO_JOBS_PER_USER="10")
    return Settings.from_env()


def test_a_waiting_student_sees_their_place_and_an_estimate(queue):
    from cnn_demo.jobs import place

    ids = [jobs.submit(KIND, {"steps": 1}, f"s{i}") for i in range(5)]
    first = jobs.queue_place(ids[0])
    assert (first.position, first.ahead, first.eta_seconds) == (1, 0, None)  # no run finished yet: no estimate
    assert first.describe() == "next in the queue"
    for seconds in (50, 60, 70):
        place.record_run(queue, KIND, seconds)
    # Two slots (CNN_DEMO_MAX_JOBS, no worker announced): jobs 1 and 2 start now, 3 and 4 after 60 s, 5 after 120 s.
    last = jobs.queue_place(ids[4])
    assert (last.position, last.ahead, last.slots) == (5, 4, 2)
    assert last.start_seconds == pytest.approx(120) and last.eta_seconds == pytest.approx(180)
    assert last.describe() == "5th in the queue, about 3 min"
    assert jobs.queue_place(ids[1]).eta_seconds == pytest.approx(60)
    # One job taken 20 s ago: its slot frees in about 40 s, the other one at once.
    fake_running(queue, ids[0], ran_s=20)
    assert jobs.queue_place(ids[0]) is None  # not waiting any more
    p = jobs.queue_place(ids[4])
    assert (p.position, p.ahead) == (4, 3)
    # slots free at 0 and 40: job 2 -> 0..60, job 3 -> 40..100, job 4 -> 60..120, then job 5 starts at 100
    assert p.start_seconds == pytest.approx(100, abs=1) and p.eta_seconds == pytest.approx(160, abs=1)
    assert jobs.status(ids[4], "s4").queue_position == p.position


def test_a_live_worker_announces_its_slots_and_stale_running_marks_are_dropped(queue):
    import threading

    from cnn_demo.jobs import place

    stop = threading.Event()
    t = threading.Thread(target=place.announce_worker, args=(queue, 5, stop, "w1"))
    t.start()
    try:
        deadline = __import__("time").monotonic() + 10
        while place.worker_slots(queue) != 5 and __import__("time").monotonic() < deadline:
            stop.wait(0.05)
        assert place.worker_slots(queue) == 5
    finally:
        stop.set()
        t.join(10)
    assert place.worker_slots(queue) == 2  # gone: the setting again
    job = jobs.submit(KIND, {"steps": 1}, "a")
    place.mark_running(queue, job, KIND)  # a marker left behind by a worker killed outright; the job is queued
    other = jobs.submit(KIND, {"steps": 1}, "b")
    place.record_run(queue, KIND, 30)
    assert jobs.queue_place(other).start_seconds == 0  # the stale marker holds no slot
    assert not (queue.state_dir / "job-stats" / "running" / job).exists()


def test_a_finished_run_is_recorded_for_the_estimates(queue):
    from cnn_demo.jobs import place

    job = jobs.submit(KIND, {"steps": 2}, "a")
    assert place.typical_seconds(queue, KIND) is None
    assert jobs.run_job(job) == "done"
    assert place.typical_seconds(queue, KIND) is not None
    assert not list((queue.state_dir / "job-stats" / "running").iterdir())
    failing = jobs.submit(KIND, {"steps": 2, "fail_at": 1}, "a")
    assert jobs.run_job(failing) == "failed"
    lines = (queue.state_dir / "job-stats" / f"{KIND}.jsonl").read_text().splitlines()
    assert len(lines) == 1  # failed runs say nothing about how long a job takes
    for _ in range(3 * place.KEEP_RUNS):
        place.record_run(queue, KIND, 1.0)
    assert len((queue.state_dir / "job-stats" / f"{KIND}.jsonl").read_text().splitlines()) <= 3 * place.KEEP_RUNS
    assert place.typical_seconds(queue, KIND) == 1.0


@pytest.mark.parametrize(
    ("position", "eta", "text"),
    [
        (2, 30, "2nd in the queue, under a minute"),
        (3, 95, "3rd in the queue, about 2 min"),
        (11, 600, "11th in the queue, about 10 min"),
        (12, 480, "12th in the queue, about 8 min"),
        (21, None, "21st in the queue"),
        (112, 60, "112th in the queue, about 1 min"),
    ],
)
def test_the_place_in_words(position, eta, text):
    assert jobs.QueuePlace(position, position - 1, eta).describe() == text


def test_the_worker_imports_the_job_modules_before_forking_and_polls_an_idle_queue_often(tmp_path, monkeypatch):
    """A student's job starts at once: no import of torch in the job process, no 10 s back-off of an idle queue."""
    import huey.consumer

    from cnn_demo.jobs import worker

    job_env(tmp_path, monkeypatch, CNN_DEMO_WORKER_NICE="0")
    calls: list = []
    monkeypatch.setattr(worker, "load_job_modules", lambda s: calls.append("load job modules"))

    class Consumer:
        def __init__(self, huey, **kwargs):
            calls.append(kwargs)

        def run(self):
            calls.append("fork and run")

    monkeypatch.setattr(huey.consumer, "Consumer", Consumer)
    worker.run_worker()
    assert calls[0] == "load job modules" and calls[-1] == "fork and run"
    assert calls[1]["worker_type"] == "process" and calls[1]["max_delay"] <= 1.0
