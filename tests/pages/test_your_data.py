"""A student's name for the teacher, what the server keeps of their uploads, and "Delete my data"."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.jobs import admin
from cnn_demo.settings import Settings
from tests.conftest import shown_errors
from tests.jobs_fixture import job_env
from tests.ui.test_jobs import panel_page, url_job


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch, CNN_DEMO_JOBS_PER_USER="3", CNN_DEMO_ARTIFACT_HOURS="48")


def student() -> AppTest:
    at = AppTest.from_function(panel_page, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def open_your_data(at: AppTest) -> AppTest:
    at.toggle(key="jobs_your_data").set_value(True).run()
    return at


def test_the_name_a_student_gives_is_stored_with_their_jobs_for_the_teacher(env):
    at = open_your_data(student())
    assert any("keeps your jobs for 48 hours" in c.value for c in at.caption)
    at.text_input(key="jobs_display_name_input").input("  Ada  Lovelace ").run()
    at.toggle(key="jobs_your_data").set_value(False).run()  # closed again: the name stays for the visit
    at.button(key="t_train").click().run()
    assert not at.exception
    assert [r.student for r in admin.list_all()] == ["Ada Lovelace"]
    at = open_your_data(at)
    assert at.text_input(key="jobs_display_name_input").value == "Ada Lovelace"


def test_a_name_with_text_direction_characters_is_refused_and_not_stored(env):
    at = open_your_data(student())
    at.text_input(key="jobs_display_name_input").input("evil\u202egnp.exe").run()
    assert any("text-direction" in e for e in shown_errors(at))
    at.button(key="t_train").click().run()
    assert [r.student for r in admin.list_all()] == [""]


def test_a_signed_in_student_is_named_by_their_sign_in(env):
    at = AppTest.from_function(panel_page, default_timeout=60)
    at.user = {"is_logged_in": True, "iss": "https://login.example", "sub": "s1", "name": "Grace Hopper"}
    at.run()
    at.button(key="t_train").click().run()
    assert [r.student for r in admin.list_all()] == ["Grace Hopper"]


def test_delete_my_data_removes_my_jobs_and_uploads_and_nothing_of_others(env):
    s = Settings.from_env()
    at = student()
    at.button(key="t_train").click().run()
    mine = url_job(at)
    owner = at.session_state["jobs_owner"]
    assert jobs.run_job(mine) == "done"
    queued = jobs.submit("test_count", {"steps": 1}, owner)
    theirs = jobs.submit("test_count", {"steps": 1}, "someone-else")
    shared_code = jobs.new_recovery_code(theirs, "someone-else")
    jobs.claim(theirs, shared_code, owner)  # opened with a recovery code: not deleted, only my access goes
    only_mine, shared = s.state_dir / "datasets" / "only-mine", s.state_dir / "datasets" / "shared"
    for d in (only_mine, shared):
        d.mkdir(parents=True)
        (d / "x.npy").write_bytes(b"1" * 100)
        jobs.hold_upload(s, owner, "net", d)
    jobs.hold_upload(s, "someone-else", "net", shared)
    at = open_your_data(at)
    assert at.button(key="jobs_delete_mine").disabled  # needs the confirmation first
    at.checkbox(key="jobs_delete_mine_sure").check().run()
    at.button(key="jobs_delete_mine").click().run()
    assert not at.exception
    assert any("Deleted 2 job(s) and 1 stored upload(s)." in x.value for x in at.success)
    assert jobs.list_jobs(owner) == [] and {r.job_id for r in admin.list_all()} == {theirs}
    assert jobs.list_jobs("someone-else")[0].job_id == theirs and queued not in {r.job_id for r in admin.list_all()}
    assert not only_mine.exists() and shared.is_dir()
    assert jobs.held_bytes(s, owner=owner) == 0 and jobs.held_bytes(s, owner="someone-else") > 0


def test_every_uploader_says_what_the_server_keeps():
    def page() -> None:
        from cnn_demo.ui.common import retention_note

        retention_note("photo")
        retention_note("dataset")

    at = AppTest.from_function(page)
    at.run()
    photo, dataset = (c.value for c in at.caption)
    assert "never saved to its disk" in photo
    assert "72 hours" in dataset and "Delete my data" in dataset
