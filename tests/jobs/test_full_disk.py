"""A full disk: every page says so in words a student understands, leaves nothing half-written behind, and the
queue starts again by itself once there is room. The state folder is a real 8 MB filesystem (tmpfs), filled up.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.settings import Settings
from tests.conftest import app_test, assert_no_exception, shown_errors
from tests.hostile import make_zip, png_bytes
from tests.ui.test_jobs import panel_page

KIND = "test_count"


@pytest.fixture
def small_disk(tmp_path, monkeypatch) -> Iterator[Path]:
    """An 8 MB filesystem as the state folder (a tmpfs: needs the right to mount, else the test is skipped)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({done.stderr.decode().strip()})")
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(mount / "state"))
    monkeypatch.setenv("CNN_DEMO_JOB_MODULES", "tests.jobs_fixture")
    monkeypatch.setenv("CNN_DEMO_AUTO_RESUME", "0")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up, leaving about ``leave`` bytes; returns the filler file (delete it to make room)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def leftovers(state: Path) -> list[str]:
    """Files a refused or failed write left behind (temporary files and folders)."""
    return [
        str(p.relative_to(state)) for p in state.rglob("*") if p.name.startswith((".tmp-", ".")) and ".tmp" in p.name
    ]


def test_a_dataset_upload_on_a_full_disk_says_so_and_leaves_nothing(small_disk):
    state = small_disk / "state"
    at = app_test("app_pages/models/finetune.py")
    fill(small_disk, leave=60_000)  # room for the lock file and a little, not for the dataset
    data = make_zip([(f"{c}/{i}.png", png_bytes(i + 10 * k, (96, 96))) for k, c in enumerate("ab") for i in range(8)])
    at.file_uploader(key="finetune_data_zip").set_value(("data.zip", data, "application/zip")).run()
    assert_no_exception(at)
    assert any("no room to prepare this dataset" in e for e in shown_errors(at)), shown_errors(at)
    assert leftovers(state) == [] and not [p for p in (state / "datasets").iterdir() if p.is_dir()]


def test_the_job_list_submit_and_panel_on_a_full_disk(small_disk):
    state = small_disk / "state"
    job = jobs.submit(KIND, {"steps": 1}, "alice")
    shutil.rmtree(state / "job-index")  # a state folder from before the index: listing would build it
    filler = fill(small_disk)
    assert [j.job_id for j in jobs.list_jobs("alice")] == [job]
    with pytest.raises(InputError, match="no room to store this job"):
        jobs.submit(KIND, {"steps": 1}, "alice", files={"d.zip": b"x" * 100_000})
    at = AppTest.from_function(panel_page, kwargs={"kind": KIND}, default_timeout=60)
    at.query_params["job"] = job
    at.run()
    at.button(key="t_train").click().run()  # a submit through the page
    assert_no_exception(at)
    assert any("no room" in e for e in shown_errors(at)), shown_errors(at)
    assert leftovers(state) == [] and len(list((state / "jobs").iterdir())) == 1
    filler.unlink()


def test_the_queue_goes_on_once_there_is_room_again(small_disk):
    s = Settings.from_env()
    job = jobs.submit(KIND, {"steps": 2}, "alice")
    filler = fill(small_disk)
    assert jobs.run_job(job) == "deferred"  # it cannot even say it started: it stays queued, not taken
    assert jobs.status(job, "alice").state == "queued" and leftovers(s.state_dir) == []
    filler.unlink()
    jobs.get_huey(s).storage.flush_queue()  # the worker took the task from the queue (and gave the job back)
    assert jobs.reconcile_queue(s, grace_s=0) == [job]  # the watchdog queues it again
    assert jobs.run_job(job) == "done"


def test_a_job_that_meets_a_full_disk_fails_with_a_message(small_disk, monkeypatch):
    job = jobs.submit(KIND, {"steps": 3}, "alice")
    original = jobs.JobContext.save_checkpoint

    def full_at_step_two(self, state, step):
        if step == 2:  # the disk fills up (another job's files) just as this one saves its work
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, state, step)

    monkeypatch.setattr(jobs.JobContext, "save_checkpoint", full_at_step_two)
    assert jobs.run_job(job) == "failed"
    st = jobs.status(job, "alice")
    assert "disk was full" in st.error and st.resumable and "reference" not in st.error
    monkeypatch.setattr(jobs.JobContext, "save_checkpoint", original)
    jobs.resume(job, "alice")
    assert jobs.run_job(job) == "done" and jobs.status(job, "alice").result["started_at"] == 1
