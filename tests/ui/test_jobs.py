"""AppTests of the one job panel (cnn_demo.ui.jobs.job_panel) in each state a job goes through.

A tiny script stands in for a training page: a Train button (``submit_job``), the panel on ``page_job`` with a
live-content hook. Jobs run in this process with ``jobs.run_job`` (what a worker does); running and interrupted
states are written into the job's status file the way a worker leaves them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.settings import get_settings
from cnn_demo.ui.jobs import NOT_YOURS_TAB, OTHER_PAGE
from tests.conftest import shown_errors

KIND = "test_count"


def panel_page(kind: str | None = "test_count") -> None:
    """A training page reduced to its job: submit, then the panel with a hook that writes what it was given."""
    import streamlit as st

    from cnn_demo.ui.common import user_errors
    from cnn_demo.ui.jobs import current_owner, job_panel, page_job, submit_job

    owner = current_owner()
    if st.button("Train", key="t_train"):
        with user_errors():  # as the training pages do
            submit_job("test_count", {"steps": 3}, owner, "t_job")

    def live(job) -> None:
        st.markdown(f"live hook: {job.state}, {len(job.metrics)} epochs of metrics")

    job_panel(page_job("t_job"), owner, "t_job", kind=kind, live=live, empty="No job yet: press Train.")


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CNN_DEMO_JOB_MODULES", "tests.jobs_fixture")
    monkeypatch.setenv("CNN_DEMO_AUTO_RESUME", "0")
    return tmp_path / "state"


@pytest.fixture
def refreshes(monkeypatch) -> list:
    """The ``run_every`` of every fragment the panel opens (None: no automatic refresh)."""
    seen: list = []
    original = streamlit.fragment

    def recording(func=None, *, run_every=None, **kw):
        seen.append(run_every)
        return original(func, run_every=run_every, **kw)

    monkeypatch.setattr(streamlit, "fragment", recording)
    return seen


def start(kind: str | None = KIND) -> AppTest:
    at = AppTest.from_function(panel_page, kwargs={"kind": kind}, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + shown_errors(at))


def progress_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def buttons(at) -> set[str]:
    return {b.label for b in at.button}


def url_job(at) -> str | None:
    value = at.query_params.get("job")
    return value[0] if isinstance(value, list) else value


def open_here(at):
    """The recovery form's submit button."""
    return next(b for b in at.button if b.label == "Open this job here")


def set_status(folder, **status) -> None:
    (folder / "status.json").write_text(json.dumps(status))


def test_queued_then_finished(state, refreshes):
    at = start()
    assert "No job yet: press Train." in [i.value for i in at.info]
    assert not at.get("progress")
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    assert job_id and at.session_state["t_job"] == job_id
    assert "Waiting in the queue" in shown(at) and "Next in line." in shown(at)
    assert "position 1" in progress_text(at)
    assert "Cancel" in buttons(at) and "Resume from the last epoch" not in buttons(at)
    assert "live hook: queued, 0 epochs" in shown(at)
    assert refreshes[-1] == 1.0  # refreshes itself while queued

    assert jobs.run_job(job_id) == "done"
    at.run()
    assert not at.exception
    assert "Finished" in shown(at) and "Epoch 3 of 3" in progress_text(at)
    assert "live hook: done, 3 epochs of metrics" in shown(at)
    assert not {"Cancel", "Resume from the last epoch"} & buttons(at)
    assert refreshes[-1] is None  # a finished job no longer refreshes


def test_running_shows_epoch_eta_and_refreshes(state, refreshes):
    at = start()
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    folder = state / "jobs" / job_id
    now = time.time()
    set_status(
        folder,
        state="running",
        done=1,
        total=3,
        started=now - 10,
        run_started=now - 10,
        run_start_done=0,
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    (folder / "heartbeat").touch()
    at.run()
    assert not at.exception
    assert "Running" in shown(at)
    text = progress_text(at)
    assert "Epoch 1 of 3" in text and "about 20 s left" in text
    assert "Cancel" in buttons(at)
    assert refreshes[-1] == 1.0


def test_feature_phase_has_its_own_progress_and_eta(state):
    """A fine-tuning job first extracts features (images), then trains (epochs): each phase shows its own count,
    and the time left comes from the rate measured in that phase only, not from the job's whole run time."""
    at = start()
    at.button(key="t_train").click().run()
    folder = state / "jobs" / url_job(at)
    now = time.time()
    common = dict(state="running", started=now - 100, run_started=now - 100, run_start_done=0)
    alive = dict(host=socket.gethostname(), pid=os.getpid())
    set_status(
        folder, **common, **alive, phase="features", phase_started=now - 10, phase_start_done=0, done=100, total=300
    )
    (folder / "heartbeat").touch()
    at.run()
    assert "Extracting features: 100 of 300 images · about 20 s left for this step" in progress_text(at)
    # After a slow first batch (32 images in 8 s), the rate since then (68 images in 2 s) makes the estimate.
    set_status(
        folder, **common, **alive, phase="features", phase_started=now - 10, phase_start_done=0, done=100,
        total=300, rate_started=now - 2, rate_start_done=32,
    )  # fmt: skip
    at.run()
    assert "about 6 s left for this step" in progress_text(at)
    # Epoch 2 of 5 after 4 s of epochs (the features took 96 s): 2 s per epoch, 6 s left, not 150 s.
    set_status(folder, **common, **alive, phase="epochs", phase_started=now - 4, phase_start_done=0, done=2, total=5)
    at.run()
    assert "Epoch 2 of 5 · about 6 s left" in progress_text(at)


def test_job_context_starts_a_phase_when_it_changes(state):
    owner = "phase-owner"
    job_id = jobs.submit(KIND, {"steps": 3}, owner)
    folder = state / "jobs" / job_id
    ctx = jobs.JobContext(job_id, folder, get_settings(), {"state": "running", "run_started": 1.0})
    ctx.progress(0, 400, phase="features")
    first = json.loads((folder / "status.json").read_text())
    ctx.progress(200, 400, phase="features")
    middle = json.loads((folder / "status.json").read_text())
    assert middle["phase_started"] == first["phase_started"] and middle["phase_start_done"] == 0
    # The rate is measured from the first step on (it carries the warm-up), so the estimate skips it.
    assert middle["rate_start_done"] == 200 and middle["rate_started"] >= first["phase_started"]
    ctx.progress(0, 10, phase="epochs")
    epochs = json.loads((folder / "status.json").read_text())
    assert epochs["phase"] == "epochs" and epochs["phase_started"] >= middle["phase_started"]
    assert (epochs["done"], epochs["total"], epochs["phase_start_done"]) == (0, 10, 0)
    assert jobs.status(job_id, owner).phase == "epochs"


def test_cancel_then_resume(state):
    at = start()
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    at.button(key="t_job_cancel").click().run()
    assert not at.exception
    assert jobs.status(job_id, at.session_state["jobs_owner"]).state == "cancelled"
    assert "Cancelled" in shown(at) and "Resume from the last epoch" in buttons(at)
    at.button(key="t_job_resume").click().run()
    assert "Waiting in the queue" in shown(at)
    assert jobs.run_job(job_id) == "done"


def test_failed_job_shows_its_error(state):
    at = start()
    owner = at.session_state["jobs_owner"]
    job_id = jobs.submit(KIND, {"steps": 3, "fail_at": 2}, owner)
    assert jobs.run_job(job_id) == "failed"
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception
    assert "Failed" in shown(at)
    assert any("error inside the app" in e for e in shown_errors(at))
    assert "boom" not in shown(at) and "RuntimeError" not in shown(at)
    assert "Epoch 1 of 3" in progress_text(at)
    assert "Resume from the last epoch" in buttons(at)


def test_interrupted_job_resumes_from_its_checkpoint(state, refreshes):
    at = start()
    owner = at.session_state["jobs_owner"]
    job_id = jobs.submit(KIND, {"steps": 3, "fail_at": 2}, owner)
    assert jobs.run_job(job_id) == "failed"  # leaves the checkpoint of epoch 1
    # What a worker killed during epoch 2 leaves behind: a "running" status with no heartbeat any more.
    folder = state / "jobs" / job_id
    params = json.loads((folder / "params.json").read_text())
    params["params"].pop("fail_at")
    (folder / "params.json").write_text(json.dumps(params))
    (folder / "heartbeat").unlink(missing_ok=True)
    set_status(folder, state="running", done=1, total=3, started=time.time() - 99, resumes=0)
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception
    assert "Interrupted" in shown(at)
    assert any("Resume it to continue" in e for e in shown_errors(at))
    assert "Cancel" not in buttons(at)
    assert refreshes[-1] is None
    at.button(key="t_job_resume").click().run()
    assert not at.exception
    assert "Waiting in the queue" in shown(at)
    assert refreshes[-1] == 1.0
    assert jobs.run_job(job_id) == "done"
    assert jobs.status(job_id, owner).result["started_at"] == 1  # continued after epoch 1
    at.run()
    assert "Finished" in shown(at) and "live hook: done, 3 epochs of metrics" in shown(at)


def test_someone_elses_job_says_so_and_opens_with_its_recovery_code(state):
    at = start()
    other = jobs.submit(KIND, {"steps": 3}, "somebody-else")
    code = jobs.new_recovery_code(other, "somebody-else")
    at.query_params["job"] = other
    at.run()
    assert not at.exception
    # Not "expired": it says whose it is in general terms and how to open it; nothing of the job is shown. AppTest
    # has no browser cookie, so jobs belong to the tab, and the message says so (not "another browser").
    assert [w.value for w in at.warning] == [NOT_YOURS_TAB] and not at.error
    assert not at.get("progress") and "live hook" not in shown(at) and other not in shown(at)
    assert "t_job" not in at.session_state
    at.text_input[0].input("WRONG-CODE-0000-0000")
    open_here(at).click().run()
    left = jobs.RECOVERY_TRIES - 1
    assert shown_errors(at) == [
        f"That recovery code does not belong to this job. Check it and try again ({left} tries left)."
    ]
    assert not at.get("progress")
    at.text_input[0].input(" " + code.lower().replace("-", " ") + " ")  # as someone might type it
    open_here(at).click().run()
    assert not at.exception and not at.error and not at.warning
    assert "Waiting in the queue" in shown(at) and "live hook: queued" in shown(at)
    assert jobs.status(other, at.session_state["jobs_owner"]).job_id == other  # now this identity's too
    assert jobs.status(other, "somebody-else").job_id == other  # and still its starter's


def test_the_recovery_code_is_shown_once_and_delete_frees_the_job(state):
    at = start()
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    boxes = [i.value for i in at.info if "Recovery code of this job" in i.value]
    assert len(boxes) == 1
    code = boxes[0].split("`")[1]
    assert len(code) == 19 and code.count("-") == 3
    stored = (state / "jobs" / job_id / "recovery.json").read_text()
    assert code not in stored and code.replace("-", "") not in stored  # only a hash on disk
    fresh = AppTest.from_function(panel_page, kwargs={"kind": KIND}, default_timeout=60)  # another browser
    fresh.query_params["job"] = job_id
    fresh.run()
    assert [w.value for w in fresh.warning] == [NOT_YOURS_TAB]
    fresh.text_input[0].input(code)
    open_here(fresh).click().run()
    assert "Waiting in the queue" in shown(fresh)
    assert not any("Recovery code of this job" in i.value for i in fresh.info)  # the code is not shown again
    assert "New recovery code" in buttons(fresh) and "Delete this job" not in buttons(fresh)  # active
    assert jobs.run_job(job_id) == "done"
    at.run()
    at.button(key="t_job_delete").click().run()
    assert not at.exception and not (state / "jobs" / job_id).exists()
    assert url_job(at) is None and "No job yet: press Train." in [i.value for i in at.info]
    fresh.run()
    assert shown_errors(fresh) == [jobs.NOT_FOUND]


def test_fair_share_messages_on_the_page(state, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_USER", "1")
    at = start()
    at.button(key="t_train").click().run()
    at.button(key="t_train").click().run()
    assert any("You already have 1 job(s) queued or running (the limit is 1)" in e for e in shown_errors(at))
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_USER", "5")
    monkeypatch.setenv("CNN_DEMO_DISK_PER_USER_MB", "1")
    (state / "jobs" / url_job(at) / "checkpoint.pt").write_bytes(b"x" * 1_200_000)
    at.button(key="t_train").click().run()
    assert any("Your jobs and uploads take 1 MB" in e and "Delete finished jobs" in e for e in shown_errors(at))


def test_a_job_of_another_page_is_not_shown(state):
    at = start(kind="unet_train")
    job_id = jobs.submit(KIND, {"steps": 3}, at.session_state["jobs_owner"])
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception
    assert shown_errors(at) == [OTHER_PAGE]
    assert not at.get("progress") and "live hook" not in shown(at)


def test_the_session_remembers_the_job_when_the_url_loses_it(state):
    at = start()
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    at.query_params.clear()  # e.g. back from another page of the app
    at.run()
    assert url_job(at) == job_id
    assert "Waiting in the queue" in shown(at)


def test_an_expired_job_is_forgotten(state):
    at = start()
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    shutil.rmtree(state / "jobs" / job_id)  # what cleanup_expired does after CNN_DEMO_ARTIFACT_HOURS
    at.run()
    assert shown_errors(at) == [jobs.NOT_FOUND]
    assert url_job(at) is None and "t_job" not in at.session_state
    at.run()
    assert not at.error and "No job yet: press Train." in [i.value for i in at.info]


@pytest.mark.parametrize("identity", ["browser", "tab"])
@pytest.mark.parametrize(
    ("page", "kind", "key"),
    [
        ("app_pages/models/finetune.py", "finetune", "finetune_job"),
        ("app_pages/applications/localization.py", "localization_train", "localization_job"),
        ("app_pages/applications/unet.py", "unet_train", "unet_job"),
    ],
)
def test_each_training_page_tells_another_browsers_job_from_an_expired_one(
    state, monkeypatch, page, kind, key, identity
):
    """The old "No job with this id belongs to you. It may have expired" mixed two cases. A job of another browser
    (or, without the browser cookie, of another tab) says so and asks for its recovery code, showing nothing of
    it; a job that is gone says that."""
    from cnn_demo.ui import identity as ident
    from tests.conftest import app_test

    if identity == "browser":  # the HttpOnly cookie `serve` sets on page loads
        monkeypatch.setattr(ident, "browser_secret", lambda: "b" * 43)
    at = app_test(page)
    owner = ident._digest("browser", "b" * 43) if identity == "browser" else at.session_state["jobs_owner"]
    other = jobs.submit(kind, {}, "another-browser")
    at.query_params["job"] = other
    at.run()
    assert not at.exception
    expected = jobs.NOT_YOURS if identity == "browser" else NOT_YOURS_TAB
    assert [w.value for w in at.warning if "If it is yours" in w.value] == [expected]
    assert not shown_errors(at) and other not in shown(at) and key not in at.session_state
    assert at.text_input[-1].label == "Recovery code"
    everything = shown(at) + " ".join(w.value for w in at.warning)
    assert "belongs to you" not in everything and "expired" not in everything

    mine = jobs.submit(kind, {}, owner)
    at.query_params["job"] = mine
    at.run()
    assert at.session_state[key] == mine and not [w for w in at.warning if "If it is yours" in w.value]
    shutil.rmtree(state / "jobs" / mine)  # what cleanup_expired does after CNN_DEMO_ARTIFACT_HOURS
    at.run()
    assert shown_errors(at) == [jobs.NOT_FOUND] and not [w for w in at.warning if "If it is yours" in w.value]
    assert key not in at.session_state and "job" not in at.query_params  # forgotten, the link too


def test_time_left_counts_down_within_a_long_step(state):
    """Epochs of a minute: 59 s into epoch 3 of 10 the estimate is the 8 epochs left minus those 59 s (~7 min),
    not the time up to now divided by the epochs reported (119 s per epoch: ~16 min, nearly twice the truth)."""
    at = start()
    at.button(key="t_train").click().run()
    folder = state / "jobs" / url_job(at)
    now = time.time()
    set_status(
        folder, state="running", started=now - 180, run_started=now - 180, run_start_done=0, phase="epochs",
        phase_started=now - 180, phase_start_done=0, rate_started=now - 119, rate_start_done=1, done=2, total=10,
        updated=now - 59, host=socket.gethostname(), pid=os.getpid(),
    )  # fmt: skip
    (folder / "heartbeat").touch()
    at.run()
    assert not at.exception
    assert "Epoch 2 of 10 · about 7 min left" in progress_text(at)


def test_time_left_of_a_step_running_late_holds_at_the_steps_after_it():
    from cnn_demo.jobs.index import time_left

    # 4 steps of 10 s reported, 6 to come, the 5th under way for 3 s: 60 − 3 s left.
    assert time_left(100.0, 4, 6, 140.0, now=143.0) == pytest.approx(57.0)
    # The 5th step has taken 25 s already (late): the estimate waits at the 5 steps after it, never below.
    assert time_left(100.0, 4, 6, 140.0, now=165.0) == pytest.approx(50.0)
    assert time_left(100.0, 4, 0, 140.0, now=141.0) == 0.0
    # No report time recorded (older status files): the rate runs up to now, as before.
    assert time_left(100.0, 4, 6, None, now=140.0) == pytest.approx(60.0)


def test_a_student_reads_that_the_teacher_removed_their_job(state):
    from cnn_demo.jobs import admin
    from cnn_demo.jobs.tombstones import REMOVED_BY_TEACHER

    at = start()
    at.button(key="t_train").click().run()
    job_id = url_job(at)
    assert jobs.run_job(job_id) == "done"
    admin.delete_any(job_id, by_teacher=True)  # the teacher, on the Teacher page
    at.run()
    assert shown_errors(at) == [REMOVED_BY_TEACHER]
    assert "Your teacher removed this job" in REMOVED_BY_TEACHER
    stranger = start()  # someone else with the link learns nothing more than that there is no such job
    stranger.query_params["job"] = job_id
    stranger.run()
    assert shown_errors(stranger) == [jobs.NOT_FOUND]


def test_a_job_gone_by_the_students_own_deletion_or_a_class_reset_is_not_called_the_teachers_doing(state):
    """Only the teacher's delete leaves the mark: "Delete my data" is the student's own act, and a reset starts a new
    class without the last one's marks."""
    from cnn_demo.jobs import admin
    from cnn_demo.jobs.tombstones import removed_by_teacher
    from cnn_demo.settings import get_settings

    s = get_settings()
    mine, other = jobs.submit(KIND, {"steps": 1}, "student-a"), jobs.submit(KIND, {"steps": 1}, "student-b")
    assert jobs.run_job(mine) == jobs.run_job(other) == "done"
    assert admin.delete_owner_data("student-a", s)[0] == 1  # "Delete my data"
    assert not removed_by_teacher(s, mine, admin.owner_key("student-a"))
    admin.delete_any(other, s, by_teacher=True)
    assert removed_by_teacher(s, other, admin.owner_key("student-b"))
    admin.purge(s, everything=True)  # the class reset
    assert not removed_by_teacher(s, other, admin.owner_key("student-b"))
