"""Listing a user's jobs reads that user's job folders only (per-owner index), and the indexes follow the folders."""

from __future__ import annotations

import builtins
import io
import os
import shutil

import pytest

from cnn_demo import jobs
from cnn_demo.jobs import index
from cnn_demo.settings import Settings
from tests.jobs_fixture import job_env

KIND = "test_count"


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch, CNN_DEMO_JOBS_PER_USER="20", CNN_DEMO_QUEUE_CAPACITY="100")


class Touches:
    """Every path this process stats, lists or opens while active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.paths: list[str] = []
        self.listed: list[str] = []
        for module, name in ((os, "stat"), (os, "lstat"), (io, "open"), (builtins, "open")):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name), self.paths))
        for name in ("listdir", "scandir"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name), self.listed))

    @staticmethod
    def _wrap(fn, into: list[str]):
        def wrapped(path=".", *args, **kwargs):
            into.append(os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path))
            return fn(path, *args, **kwargs)

        return wrapped


def test_listing_one_users_jobs_does_not_touch_other_users_folders(env, monkeypatch):
    s = Settings.from_env()
    first = jobs.submit(KIND, {"steps": 1}, "alice")
    others = [jobs.submit(KIND, {"steps": 1}, f"user{i}") for i in range(12)]
    mine = [first, jobs.submit(KIND, {"steps": 1}, "alice")]
    for job in [mine[0], *others[:8]]:
        assert jobs.run_job(job, s) == "done"  # finished jobs of others, and queued ones ahead of alice's
    jobs.list_jobs("bob")  # the first listing of a state folder builds the indexes once (from every folder)
    touches = Touches(monkeypatch)
    listed = jobs.list_jobs("alice")
    monkeypatch.undo()
    assert [j.job_id for j in listed] == mine[::-1]
    assert [j.state for j in listed] == ["queued", "done"]
    assert listed[0].queue_position == 1 + 4  # behind the other users' 4 queued jobs, read from the queue index
    assert str(s.jobs_dir) not in touches.listed  # no scan of every job folder
    folders = [str(s.jobs_dir / job) for job in others]
    foreign = [p for p in touches.paths + touches.listed if p.startswith(tuple(folders))]
    assert not foreign, foreign[:5]
    assert any(mine[0] in p for p in touches.paths)  # (the recorder does see what is read)


def test_the_indexes_follow_the_folders(env):
    s = Settings.from_env()
    a = jobs.submit(KIND, {"steps": 1}, "alice")
    b = jobs.submit(KIND, {"steps": 1}, "bob")
    c = jobs.submit(KIND, {"steps": 1}, "alice")
    assert [jobs.status(j, o).queue_position for j, o in ((a, "alice"), (b, "bob"), (c, "alice"))] == [1, 2, 3]
    # A state folder from before the index (or one whose index was lost) gets it rebuilt on first use.
    shutil.rmtree(s.state_dir / "job-index")
    assert [j.job_id for j in jobs.list_jobs("alice")] == [c, a]
    assert jobs.status(c, "alice").queue_position == 3
    # Taking, cancelling and deleting jobs keep the queue index exact.
    assert jobs.run_job(a, s) == "done"
    assert jobs.cancel(b, "bob").state == "cancelled"
    assert jobs.status(c, "alice").queue_position == 1
    jobs.delete(a, "alice")
    assert [j.job_id for j in jobs.list_jobs("alice")] == [c]
    assert not list((s.state_dir / "job-index" / "owners").glob(f"*/{a}"))
    # A job opened with its recovery code shows up in the list of the browser that opened it.
    code = jobs.new_recovery_code(c, "alice")
    jobs.claim(c, code, "phone")
    assert [j.job_id for j in jobs.list_jobs("phone")] == [c]
    # A marker left behind by a crash between two writes is repaired by the worker's watchdog pass.
    index.mark_queued(s, b, 0.0)
    assert jobs.status(c, "alice").queue_position == 2
    index.sync_index(s)
    assert jobs.status(c, "alice").queue_position == 1
    # A folder deleted behind the index's back (expired) drops out of the list.
    shutil.rmtree(s.jobs_dir / c)
    assert jobs.list_jobs("alice") == [] and jobs.list_jobs("phone") == []
