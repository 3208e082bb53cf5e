"""The teacher's view of every job (cnn_demo.jobs.admin) and its command line (python -m cnn_demo jobs ...)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from cnn_demo import jobs
from cnn_demo.cli import main
from cnn_demo.errors import InputError
from cnn_demo.jobs import admin
from cnn_demo.jobs.names import MAX_DISPLAY_NAME, clean_display_name
from cnn_demo.settings import Settings
from tests.conftest import ROOT
from tests.jobs.test_redis import redis_url  # noqa: F401 - fixture
from tests.jobs_fixture import job_env

KIND = "test_count"


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch, CNN_DEMO_JOBS_PER_USER="3")


def crashed_job(owner: str = "alice", name: str = "Ada") -> tuple[str, str]:
    """A job that stopped with an internal error; returns its id and the reference its owner was shown."""
    job = jobs.submit(KIND, {"steps": 3, "fail_at": 2}, owner, display_name=name)
    assert jobs.run_job(job) == "failed"
    error = jobs.status(job, owner).error or ""
    ref = re.search(r"tell your teacher the reference ([0-9a-f]+)", error)
    assert ref, error
    return job, ref.group(1)


def test_list_all_shows_every_students_jobs_with_names_states_and_results(env):
    done = jobs.submit(KIND, {"steps": 2}, "alice", display_name="  Ada   Lovelace ")
    assert jobs.run_job(done) == "done"
    first = jobs.submit(KIND, {"steps": 2}, "bob", files={"data.zip": b"x"}, display_name="Bob")  # with inputs
    second = jobs.submit(KIND, {"steps": 2}, "carol")
    rows = {r.job_id: r for r in admin.list_all()}
    assert set(rows) == {done, first, second}
    assert rows[done].student == "Ada Lovelace" and rows[done].state == "done" and rows[done].run_seconds is not None
    assert rows[first].student == "Bob" and rows[first].queue_position == 1
    assert rows[second].student == "" and rows[second].queue_position == 2 and rows[second].owner_tag
    assert rows[second].owner_tag != rows[first].owner_tag
    assert all(r.disk_bytes > 0 for r in rows.values())
    assert admin.list_all()[0].job_id == second  # newest first
    # The owners' identity tokens never appear in what the teacher sees.
    assert not any(o in json.dumps([r.to_dict() for r in rows.values()]) for o in ("alice", "bob", "carol"))


def test_accuracy_against_the_baseline_is_read_from_a_finetune_result():
    acc, base, words = admin._score(
        "finetune",
        {"val_accuracy": 0.9, "best_val_accuracy": 0.92, "baseline_val_accuracy": 0.5, "test_accuracy": 0.88},
    )
    assert (acc, base) == (0.92, 0.5) and words == "val 92% (majority 50%), test 88%"
    assert admin._score("unet_train", {"iou": 0.61234})[2] == "IoU 0.612"
    assert admin._score("finetune", None) == (None, None, "")


def test_a_crash_reference_finds_the_job_with_its_traceback(env):
    job, ref = crashed_job()
    other = jobs.submit(KIND, {"steps": 1}, "bob")
    for given in (ref, ref.upper(), f" `{ref}`. ", job, job[:8]):
        assert [r.job_id for r in admin.find_by_reference(given)] == [job], given
    assert admin.find_by_reference("zz") == [] and admin.find_by_reference("deadbeef") == []
    assert [r.job_id for r in admin.find_by_reference(other)] == [other]
    details = admin.job_details(job)
    assert details["reference"] == ref and details["student"] == "Ada"
    assert "RuntimeError: boom" in details["crash"] and f"reference {ref}" in details["crash"]
    # The student never sees the traceback: only the sentence with the reference.
    assert "boom" not in (jobs.status(job, "alice").error or "")
    # A job that crashed before references were kept apart: found by the sentence its student was shown.
    folder = Settings.from_env().jobs_dir / job
    status = json.loads((folder / "status.json").read_text())
    del status["ref"]
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "log.txt").unlink()
    (folder / "crash.txt").unlink()
    assert [r.job_id for r in admin.find_by_reference(ref)] == [job]


def test_cancel_any_and_delete_any_act_on_anyones_job(env):
    job = jobs.submit(KIND, {"steps": 2}, "alice")
    with pytest.raises(InputError, match="Cancel this job before deleting it"):
        admin.delete_any(job)
    assert admin.cancel_any(job) == "cancelled"
    assert jobs.status(job, "alice").state == "cancelled"
    admin.delete_any(job)
    assert jobs.list_jobs("alice") == [] and admin.list_all() == []
    running = jobs.submit(KIND, {"steps": 2}, "bob")
    admin.delete_any(running, force=True)  # queued: cancelled and deleted in one go
    assert jobs.list_jobs("bob") == []
    with pytest.raises(InputError, match="no job with this id"):
        admin.cancel_any(running)
    with pytest.raises(InputError, match="no job with this id"):
        admin.delete_any("../../etc")


def test_damaged_and_half_made_job_folders_are_listed_as_damaged_and_can_be_deleted(env):
    s = Settings.from_env()
    bad = jobs.submit(KIND, {"steps": 1}, "alice")
    (s.jobs_dir / bad / "params.json").write_bytes(b"\x00\xff{not json")
    statusless = jobs.submit(KIND, {"steps": 1}, "bob")
    (s.jobs_dir / statusless / "status.json").unlink()
    old = time.time() - 3600
    os.utime(s.jobs_dir / statusless, (old, old))
    young = s.jobs_dir / ("y" * 22)
    young.mkdir()  # being created right now: not listed yet
    leftover = s.jobs_dir / ("x" * 22)
    leftover.mkdir()
    (leftover / "inputs").mkdir()
    os.utime(leftover, (old, old))
    (s.jobs_dir / "not-a-job").mkdir()
    rows = {r.job_id: r for r in admin.list_all()}
    assert set(rows) == {bad, statusless, leftover.name}
    assert all(r.state == "damaged" for r in rows.values()), rows
    assert "params.json" in (rows[bad].error or "") and "status.json" in (rows[statusless].error or "")
    for job in rows:
        admin.delete_any(job)
    assert admin.list_all() == [] and (s.jobs_dir / "not-a-job").is_dir()


def test_purge_older_than_keeps_active_jobs_and_all_resets_everything(env):
    s = Settings.from_env()
    done = jobs.submit(KIND, {"steps": 1}, "alice")
    assert jobs.run_job(done) == "done"
    waiting = jobs.submit(KIND, {"steps": 1}, "bob")
    (s.state_dir / "datasets" / "abc123").mkdir(parents=True)
    (s.state_dir / "datasets" / "abc123" / "x.npy").write_bytes(b"0" * 1000)
    (s.state_dir / "feature-cache").mkdir()
    (s.state_dir / "feature-cache" / "f.pt").write_bytes(b"0" * 1000)
    assert admin.purge(older_than_hours=1).jobs == []  # nothing that old
    report = admin.purge(older_than_hours=0)
    assert report.jobs == [done] and [r.job_id for r in admin.list_all()] == [waiting]
    (s.state_dir / "datasets" / "abc123").mkdir(parents=True)
    (s.state_dir / "datasets" / "abc123" / "x.npy").write_bytes(b"0" * 1000)
    report = admin.purge(everything=True)
    assert report.jobs == [waiting] and report.uploads == 1 and report.bytes_freed > 0
    assert admin.list_all() == [] and jobs.list_jobs("bob") == []
    assert not (s.state_dir / "datasets").exists() and not (s.state_dir / "feature-cache").exists()
    assert len(jobs.get_huey(s)) == 0  # the deleted jobs' tasks left the queue
    assert jobs.submit(KIND, {"steps": 1}, "bob")  # the server goes on


def test_storage_use_counts_jobs_and_uploads(env):
    s = Settings.from_env()
    jobs.submit(KIND, {"steps": 1}, "alice", files={"data.bin": b"1" * 50_000})
    use = admin.storage_use(s)
    assert use["jobs"] >= 50_000 and use["uploads"] == 0 and use["disk_total"] > use["disk_free"] > 0


@pytest.mark.parametrize(
    ("name", "message"),
    [("Eve\u202eevil", "text-direction"), ("a\x00b", "control"), ("a\u200bb", "invisible"), (5, "must be text")],
)
def test_display_names_are_checked_like_class_names(name, message):
    with pytest.raises(InputError, match=message):
        clean_display_name(name)


def test_display_names_are_trimmed_and_capped(env):
    assert clean_display_name("  Zoë   \u00e9  ") == "Zoë é" and clean_display_name(None) == ""
    assert clean_display_name("👩\u200d🔬 Ana") == "👩\u200d🔬 Ana"  # emoji sequences join with U+200D
    with pytest.raises(InputError, match="too long"):
        clean_display_name("x" * (MAX_DISPLAY_NAME + 1))
    with pytest.raises(InputError, match="text-direction"):
        jobs.submit(KIND, {"steps": 1}, "alice", display_name="\u202eabc")
    assert admin.list_all() == []  # a refused name leaves no job behind


# --------------------------------------------------------------------------- command line


def test_cli_list_json_show_cancel_and_purge(env, capsys):
    job, ref = crashed_job("alice", "Ada")
    waiting = jobs.submit(KIND, {"steps": 1}, "bob", display_name="Bob")
    assert main(["jobs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["job_id"], r["student"], r["state"]) for r in listed] == [
        (waiting, "Bob", "queued"),
        (job, "Ada", "failed"),
    ]
    assert listed[1]["reference"] == ref and listed[0]["queue_position"] == 1
    assert main(["jobs", "list"]) == 0
    table = capsys.readouterr().out
    assert job in table and "Ada" in table and f"ref {ref}" in table and "2 job(s)" in table
    assert main(["jobs", "show", ref]) == 0
    shown = capsys.readouterr().out
    assert f"job       {job}" in shown and "RuntimeError: boom" in shown and "Ada" in shown
    assert main(["jobs", "show", "ffffffff"]) == 1
    assert "no job matches" in capsys.readouterr().err
    assert main(["jobs", "cancel", waiting]) == 0
    assert capsys.readouterr().out.strip() == f"{waiting}: cancelled"
    assert jobs.status(waiting, "bob").state == "cancelled"
    assert main(["jobs", "cancel", "nonexistent-job-id-000"]) == 2
    assert main(["jobs", "purge", "--older-than", "0"]) == 0
    assert "removed 2 job(s)" in capsys.readouterr().out
    jobs.submit(KIND, {"steps": 1}, "carol")
    assert main(["jobs", "purge", "--all"]) == 0
    assert "removed 1 job(s)" in capsys.readouterr().out
    assert admin.list_all() == []


def test_cli_is_discovered_by_python_m_cnn_demo(env):
    jobs.submit(KIND, {"steps": 1}, "alice", display_name="Ada")
    out = subprocess.run(
        [sys.executable, "-m", "cnn_demo", "jobs", "list", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert [r["student"] for r in json.loads(out)] == ["Ada"]


def test_admin_works_on_the_redis_queue(request, tmp_path, monkeypatch, capsys):
    job_env(tmp_path, monkeypatch, CNN_DEMO_REDIS_URL=request.getfixturevalue("redis_url"))
    s = Settings.from_env()
    assert type(jobs.get_huey(s)).__name__ == "RedisHuey"
    job, ref = crashed_job()
    waiting = jobs.submit(KIND, {"steps": 1}, "bob")
    assert len(jobs.get_huey(s)) == 2  # run_job above ran one in this process: its task is still there
    assert [r.job_id for r in admin.find_by_reference(ref)] == [job]
    assert [r.queue_position for r in admin.list_all()] == [1, None]
    assert main(["jobs", "cancel", waiting]) == 0 and jobs.status(waiting, "bob").state == "cancelled"
    assert main(["jobs", "purge", "--all"]) == 0
    assert "removed 2 job(s)" in capsys.readouterr().out
    assert admin.list_all() == [] and len(jobs.get_huey(s)) == 0
