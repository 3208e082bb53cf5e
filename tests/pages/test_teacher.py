"""The teacher role and the Teacher page: who gets it (listed sign-ins, the password), who cannot (students setting
session state, cookies or headers), and what the teacher does there (every job, cancel, delete, a reference, reset)."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import time

import pytest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.jobs import admin, teachers
from cnn_demo.settings import Settings
from cnn_demo.ui import gatekeeper
from cnn_demo.ui.teacher import TEACHER_KEY, TeacherSession
from tests.conftest import app_test, assert_no_exception, shown_errors
from tests.jobs_fixture import job_env

PAGE = "app_pages/classroom/teacher.py"
KIND = "test_count"
PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch, CNN_DEMO_JOBS_PER_USER="3")


@pytest.fixture
def class_jobs(env) -> dict[str, str]:
    """Three students' jobs: one finished, one crashed, one waiting."""
    done = jobs.submit(KIND, {"steps": 1}, "alice-owner", display_name="Ada")
    assert jobs.run_job(done) == "done"
    crashed = jobs.submit(KIND, {"steps": 2, "fail_at": 1}, "bob-owner", display_name="Bob")
    assert jobs.run_job(crashed) == "failed"
    waiting = jobs.submit(KIND, {"steps": 1}, "carol-owner", display_name="Carol")
    return {"done": done, "crashed": crashed, "waiting": waiting}


def text(at) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success)]
    parts += [str(e.value) for e in at.code]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts))  # as read: markdown escapes of user text removed


def assert_nothing_of_the_class(at, class_jobs: dict[str, str]) -> None:
    assert_no_exception(at)
    page = text(at)
    for job in class_jobs.values():
        assert job not in page
    for name in ("Ada", "Bob", "Carol"):
        assert name not in page
    assert not at.dataframe and not at.multiselect
    assert "Reset the class" not in {b.label for b in at.button}


def unlock(at, password: str = PASSWORD):
    at.text_input(key="teacher_password").input(password)
    submit = next(b for b in at.get("form_submit_button") if "teacher" in b.label)
    submit.click().run()
    return at


# --------------------------------------------------------------------------- the password


def test_password_hash_verifies_and_is_stored_for_the_server_account_only(env):
    s = Settings.from_env()
    stored = teachers.hash_password(PASSWORD)
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert teachers.verify_password(PASSWORD, stored) and not teachers.verify_password(PASSWORD + "x", stored)
    assert not teachers.verify_password(PASSWORD, "scrypt$1$1$1$xx$yy") and not teachers.verify_password("a", "junk")
    with pytest.raises(InputError, match="at least"):
        teachers.hash_password("short")
    path = teachers.set_password(s, PASSWORD)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and PASSWORD not in path.read_text()
    assert teachers.stored_hash(s) == path.read_text().strip()


def test_wrong_passwords_are_limited_per_identity_and_per_address(env):
    s = Settings.from_env()
    teachers.set_password(s, PASSWORD)
    for _ in range(teachers.TRIES_PER_IDENTITY):
        assert not teachers.check_password(s, "guess", "mallory", "net-1")
    with pytest.raises(InputError, match="Too many wrong teacher passwords"):
        teachers.check_password(s, PASSWORD, "mallory", "net-1")  # even the right one, once the tries are spent
    assert teachers.check_password(s, PASSWORD, "teacher", "net-2")  # others are not locked out
    # New identities from one address (cleared cookies) share the address's tries.
    for i in range(teachers.TRIES_PER_ADDRESS - teachers.TRIES_PER_IDENTITY):
        assert not teachers.check_password(s, "guess", f"mallory-{i // 4}-{i}", "net-1")
    with pytest.raises(InputError, match="Too many"):
        teachers.check_password(s, PASSWORD, "fresh-identity", "net-1")
    # The window passes: tries count again.
    path = s.state_dir / "teacher-tries.json"
    path.write_text(re.sub(r"(\d{10}\.\d+)", lambda m: str(float(m.group(1)) - 3600), path.read_text()))
    assert teachers.check_password(s, PASSWORD, "mallory", "net-1")


def test_the_hash_in_the_environment_wins(env, monkeypatch):
    s = Settings.from_env()
    teachers.set_password(s, "the stored password")
    monkeypatch.setenv("CNN_DEMO_TEACHER_PASSWORD_HASH", teachers.hash_password(PASSWORD))
    s = Settings.from_env()
    assert teachers.check_password(s, PASSWORD, "t", None)
    assert not teachers.check_password(s, "the stored password", "t", None)


def test_cli_sets_and_removes_the_password(env, monkeypatch, capsys):
    import io

    from cnn_demo.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["teacher-password", "--stdin"]) == 0
    s = Settings.from_env()
    assert teachers.verify_password(PASSWORD, teachers.stored_hash(s) or "")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["teacher-password", "--stdin", "--print"]) == 0
    assert teachers.verify_password(PASSWORD, capsys.readouterr().out.strip().splitlines()[-1])
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["teacher-password", "--stdin"]) == 2
    assert main(["teacher-password", "--remove"]) == 0 and teachers.stored_hash(s) is None


# --------------------------------------------------------------------------- who is a teacher on the page


def test_a_student_sees_only_the_prompt_and_a_wrong_password_opens_nothing(class_jobs):
    teachers.set_password(Settings.from_env(), PASSWORD)
    at = app_test(PAGE)
    assert at.title[0].value == "Teacher"
    assert_nothing_of_the_class(at, class_jobs)
    unlock(at, "not the password")
    assert "That is not the teacher password." in shown_errors(at)
    assert_nothing_of_the_class(at, class_jobs)


def test_without_any_teacher_set_up_the_page_says_so(class_jobs):
    at = app_test(PAGE)
    assert any("No teacher is set up" in w.value for w in at.warning)
    assert not at.text_input and not at.get("form_submit_button")
    assert_nothing_of_the_class(at, class_jobs)


@pytest.mark.parametrize(
    "forged",
    [True, "yes", {"owner": "x", "since": 1e12}, ["teacher"], TeacherSession("someone-else", 1e12)],
    ids=["true", "text", "dict", "list", "other-identity"],
)
def test_a_student_cannot_become_teacher_through_session_state(class_jobs, forged):
    teachers.set_password(Settings.from_env(), PASSWORD)
    at = app_test()
    at.session_state[TEACHER_KEY] = forged
    for key in ("teacher", "is_teacher", "role"):
        at.session_state[key] = True
    at.switch_page(PAGE)
    at.run()
    assert_nothing_of_the_class(at, class_jobs)


def test_an_expired_password_session_ends(class_jobs):
    teachers.set_password(Settings.from_env(), PASSWORD)
    at = unlock(app_test(PAGE))
    assert at.dataframe
    mark = at.session_state[TEACHER_KEY]
    at.session_state[TEACHER_KEY] = TeacherSession(mark.owner, time.time() - 13 * 3600)
    at.run()
    assert_nothing_of_the_class(at, class_jobs)


def test_a_forged_proxy_user_header_or_cookie_is_not_believed(env, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_TEACHERS", "ms.smith")
    monkeypatch.setenv("CNN_DEMO_TRUSTED_USER_HEADER", "X-Forwarded-User")
    monkeypatch.setenv("CNN_DEMO_TRUSTED_PROXIES", "10.0.0.5")
    s = Settings.from_env()
    scope = {
        "type": "http",
        "client": ("192.168.1.20", 5000),
        "headers": [
            (b"x-forwarded-user", b"ms.smith"),
            (b"cookie", b"cnn_demo_teacher=1; teacher=ms.smith"),
            (gatekeeper.CONTEXT_HEADER.encode(), b'{"user": "ms.smith"}'),
        ],
    }
    facts, headers, _ = gatekeeper.examine(scope, s)
    assert facts.user is None  # a student's own header: removed, never believed
    context = dict(headers)[gatekeeper.CONTEXT_HEADER.encode()].decode()
    assert gatekeeper.request_facts(context, s).user is None
    assert gatekeeper.request_facts('{"user": "ms.smith"}', s) is None  # unsigned context: ignored
    trusted = {**scope, "client": ("10.0.0.5", 443)}
    assert gatekeeper.examine(trusted, s)[0].user == "ms.smith"  # the real proxy's header is
    assert teachers.listed_teacher(s, ["MS.Smith"]) and not teachers.listed_teacher(s, ["smith", None])


def signed_in(email: str, verified: bool | None = True):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    user = {"is_logged_in": True, "iss": "https://login.school.example", "sub": f"sub-{email}", "email": email}
    if verified is not None:
        user["email_verified"] = verified
    at.user = user
    at.run()
    at.switch_page(PAGE)
    at.run()
    return at


def test_listed_sign_ins_are_teachers_and_others_are_not(class_jobs, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_TEACHERS", "Teacher@School.example, sub-other")
    teacher = signed_in("teacher@school.example")
    assert_no_exception(teacher)
    assert teacher.dataframe and "Ada" in list(teacher.dataframe[0].value["student"])
    student = signed_in("student@school.example")
    assert any("not as one of this class's teachers" in w.value for w in student.warning)
    assert_nothing_of_the_class(student, class_jobs)
    unverified = signed_in("teacher@school.example", verified=False)  # an address the provider did not check
    assert_nothing_of_the_class(unverified, class_jobs)


# --------------------------------------------------------------------------- what the teacher does


def test_the_teacher_sees_every_job_and_cancels_and_deletes_any(class_jobs):
    teachers.set_password(Settings.from_env(), PASSWORD)
    at = unlock(app_test(PAGE))
    assert_no_exception(at)
    table = at.dataframe[0].value
    assert sorted(table["student"]) == ["Ada", "Bob", "Carol"]
    assert set(table["job"]) == set(class_jobs.values())
    row = table[table["student"] == "Carol"].iloc[0]
    assert row["state"] == "Waiting in the queue" and row["queue"] and row["page"] == KIND
    assert table[table["student"] == "Bob"].iloc[0]["reference"]
    at.multiselect(key="teacher_chosen").set_value([class_jobs["waiting"]]).run()
    at.button(key="teacher_cancel").click().run()
    assert jobs.status(class_jobs["waiting"], "carol-owner").state == "cancelled"
    at.multiselect(key="teacher_chosen").set_value([class_jobs["done"], class_jobs["waiting"]]).run()
    at.button(key="teacher_delete").click().run()
    assert_no_exception(at)
    assert any("Deleted 2 job(s)." in s.value for s in at.success)
    assert [r.job_id for r in admin.list_all()] == [class_jobs["crashed"]]
    assert jobs.list_jobs("alice-owner") == []


def test_the_teacher_finds_a_students_reference(class_jobs):
    teachers.set_password(Settings.from_env(), PASSWORD)
    error = jobs.status(class_jobs["crashed"], "bob-owner").error or ""
    ref = re.search(r"reference ([0-9a-f]+)", error).group(1)
    at = unlock(app_test(PAGE))
    at.text_input(key="teacher_ref").input(f"the reference {ref}?").run()
    assert not any("No job matches" in w.value for w in at.warning)
    at.text_input(key="teacher_ref").input(ref).run()
    page = text(at)
    assert class_jobs["crashed"] in page and "Bob" in page and "RuntimeError: boom" in page
    at.text_input(key="teacher_ref").input("ffffffff").run()
    assert any("No job matches" in w.value for w in at.warning)


def test_the_class_reset_needs_the_word_and_then_removes_everything(class_jobs):
    s = Settings.from_env()
    teachers.set_password(s, PASSWORD)
    (s.state_dir / "datasets" / "k1").mkdir(parents=True)
    (s.state_dir / "datasets" / "k1" / "x.npy").write_bytes(b"1" * 100)
    at = unlock(app_test(PAGE))
    assert any("Stored uploads" in m.label for m in at.metric)
    reset = next(b for b in at.get("form_submit_button") if b.label == "Reset the class")
    at.text_input(key="teacher_reset_word").input("reset please")
    reset.click().run()
    assert "Type RESET in the box to reset the class." in shown_errors(at)
    assert len(admin.list_all()) == 3
    at.text_input(key="teacher_reset_word").input("RESET")
    next(b for b in at.get("form_submit_button") if b.label == "Reset the class").click().run()
    assert_no_exception(at)
    assert any("Class reset: 3 job(s) and 1 stored upload(s) deleted" in s.value for s in at.success)
    assert admin.list_all() == [] and not (s.state_dir / "datasets").exists()
    assert not any("student" in d.value.columns for d in at.dataframe)  # no table of jobs: the page says so
    assert any("No jobs yet" in i.value for i in at.info)


def test_a_wrong_password_does_not_stay_in_the_box(class_jobs):
    teachers.set_password(Settings.from_env(), PASSWORD)
    at = unlock(app_test(PAGE), "not the password")
    assert "That is not the teacher password." in shown_errors(at)
    assert at.text_input(key="teacher_password").value == ""
    at.run()  # the message was for that try: a rerun does not repeat it
    assert "That is not the teacher password." not in shown_errors(at)
    unlock(at)
    assert_no_exception(at)
    assert at.dataframe  # the right one opens the view


def test_jobs_without_an_accuracy_show_a_dash_not_none(class_jobs, monkeypatch):
    from cnn_demo.jobs import admin

    teachers.set_password(Settings.from_env(), PASSWORD)
    scored = {class_jobs["done"]: (0.941, 0.542)}
    rows = admin.list_all

    def with_scores(*args, **kwargs):
        return [
            dataclasses.replace(r, accuracy=scored[r.job_id][0], baseline=scored[r.job_id][1])
            if r.job_id in scored
            else r
            for r in rows(*args, **kwargs)
        ]

    monkeypatch.setattr(admin, "list_all", with_scores)
    at = unlock(app_test(PAGE))
    assert_no_exception(at)
    table = at.dataframe[0].value
    by_student = {row["student"]: row for _, row in table.iterrows()}
    assert by_student["Carol"]["accuracy"] == "—" and by_student["Carol"]["majority baseline"] == "—"  # waiting
    assert by_student["Ada"]["accuracy"] == "94.1 %" and by_student["Ada"]["majority baseline"] == "54.2 %"
    assert not any(str(v) in ("None", "nan") for v in table[["accuracy", "majority baseline"]].to_numpy().ravel())
