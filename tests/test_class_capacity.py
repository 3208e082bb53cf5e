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
