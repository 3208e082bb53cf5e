"""A class's day in real browsers: two students and their teacher on one server (with its worker).

Student A and student B (separate browser contexts: separate identity cookies) give their names and train on
*Fine-tune on your images*; A publishes the finished run to the class gallery, B sees it there read-only. The
teacher (the password set through the command line, as the operator does) opens the Teacher page, sees both
students' jobs by name, finds one by its reference, cancels and deletes B's runaway job, hides A's gallery entry and
resets the class. A student on the Teacher page gets the password prompt and nothing of the class.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.browser.test_finetune import choose_backbone, make_zip, set_number
from tests.browser_helpers import exception_texts, screenshot, wait_idle, widget
from tests.conftest import ROOT, served

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
CODE_RE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")
NAME_A, NAME_B = "Ada Student", "Ben Student"
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def class_server(tmp_path_factory) -> Iterator[str]:
    """The app with its worker on a fresh state folder whose teacher password the operator set with
    ``python -m cnn_demo teacher-password --stdin``; yields the base URL."""
    state = tmp_path_factory.mktemp("class-state")
    # One thread per job: B's long run leaves a core to the pages while the teacher works.
    env = dict(os.environ, CNN_DEMO_STATE_DIR=str(state), CNN_DEMO_JOB_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("CNN_DEMO_TEACHER_PASSWORD_HASH", None)
    env.pop("CNN_DEMO_TEACHERS", None)
    done = subprocess.run(
        [sys.executable, "-m", "cnn_demo", "teacher-password", "--stdin"],
        input=PASSWORD + "\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "teacher password set" in done.stdout, done.stderr
    with served(env, state / "server.log") as url:
        yield url


def field(page, label: str):
    """The text (or password) box labelled ``label``."""
    return page.locator(f'[data-testid="stMain"] input[aria-label="{label}"]')


def body(page) -> str:
    return page.inner_text("body")


def open_page(browser, url: str):
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    wait_idle(page)
    return ctx, page


def give_name(page, name: str) -> None:
    """Open *Your name and your data* under the job panel and type the name the teacher will see."""
    page.get_by_text("Your name and your data", exact=True).click()
    box = page.get_by_role("textbox", name="Your name for the teacher (optional)", exact=True)
    box.fill(name)
    box.press("Enter")
    wait_idle(page)


def upload(page, data) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(data))
    page.get_by_text(re.compile(r"\d+ training and \d+ validation images")).first.wait_for(timeout=60_000)
    wait_idle(page)


def train(page) -> str:
    """Press Train; return the job id once the page's link names it."""
    first = page.url
    page.get_by_role("button", name=re.compile("Train as a background job")).click()
    page.wait_for_function(f"() => location.href !== {first!r} && location.href.includes('job=')", timeout=60_000)
    return re.search(r"job=([A-Za-z0-9_-]+)", page.url).group(1)


def navigate(page, title: str) -> None:
    """Go to another page through the sidebar (the same session: a teacher's password holds)."""
    page.locator('[data-testid="stSidebarNavLink"]').filter(has=page.get_by_text(title, exact=True)).click()
    page.get_by_role("heading", name=title, level=1).wait_for()
    wait_idle(page)


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the multiselect labelled ``label``."""
    widget(page, "stMultiSelect", label).locator('[role="combobox"]').first.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_idle(page)


def find_reference(page, ref: str) -> str:
    """Type a reference under *Find a job by its reference*; the text shown for it."""
    box = page.get_by_role("textbox", name="A student's reference", exact=True)
    box.fill(ref)
    box.press("Enter")
    wait_idle(page)
    return body(page)


def test_two_students_and_their_teacher(class_server, browser, tmp_path):
    t0 = time.perf_counter()
    data = tmp_path / "colours.zip"
    make_zip(data)

    # ---- student A: a name, a one-epoch run of the tiny CIFAR ResNet, then publish it to the gallery.
    a_ctx, a = open_page(browser, f"{class_server}/finetune")
    give_name(a, NAME_A)
    choose_backbone(a, "cifar_resnet20")
    upload(a, data)
    set_number(a, "Epochs", 1)
    screenshot(a, "class-a-named-before-train")
    job_a = train(a)
    a.get_by_text("Recovery code of this job").first.wait_for()
    code_a = CODE_RE.search(body(a)).group(0)

    # ---- student B meanwhile: a name and a long run (all layers, large images, 100 epochs) that the teacher stops.
    b_ctx, b = open_page(browser, f"{class_server}/finetune")
    give_name(b, NAME_B)
    choose_backbone(b, "cifar_resnet20")
    upload(b, data)
    set_number(b, "Epochs", 100)
    b.get_by_text("Fine-tune all", exact=True).click()
    wait_idle(b)
    slider = b.locator('[data-testid="stSlider"]').filter(has_text="Image size (pixels)").get_by_role("slider")
    slider.focus()
    slider.press("End")
    wait_idle(b)
    job_b = train(b)
    b.get_by_text("Recovery code of this job").first.wait_for()
    code_b = CODE_RE.search(body(b)).group(0)
    assert job_a != job_b and code_a != code_b

    # A's run finishes; A publishes it under the name A gave.
    a.get_by_text("Finished", exact=False).first.wait_for(timeout=120_000)
    wait_idle(a)
    a.get_by_role("heading", name="Share with your class").wait_for()
    # The name A gave under the job panel is offered (A may change it).
    assert a.get_by_role("textbox", name="Display name", exact=True).input_value() == NAME_A
    a.get_by_role("button", name=re.compile("Publish to the class gallery")).click()
    a.get_by_text(f"Published to the class gallery as {NAME_A}").first.wait_for()
    wait_idle(a)
    assert not exception_texts(a)
    screenshot(a, "class-a-published")
    navigate(a, "Class gallery")
    a.get_by_role("button", name=re.compile("Unpublish")).wait_for()  # the publisher may take it out
    assert "Hide from the gallery" not in body(a)

    # ---- B in the gallery: A's run, read-only.
    b_gallery = b_ctx.new_page()
    b_gallery.goto(f"{class_server}/gallery")
    wait_idle(b_gallery)
    b_gallery.get_by_role("heading", name=re.compile(f"{NAME_A}: colours")).wait_for()
    text = body(b_gallery)
    assert "Test, held out" in text and NAME_B not in text
    assert not b_gallery.get_by_role("button", name=re.compile("Unpublish|Hide")).count()
    assert not CODE_RE.search(text) and code_a not in text and job_a not in text
    assert not exception_texts(b_gallery)
    screenshot(b_gallery, "class-b-sees-gallery")

    # ---- a student on the Teacher page: the password prompt, nothing of the class.
    b_gallery.goto(f"{class_server}/teacher")
    wait_idle(b_gallery)
    field(b_gallery, "Teacher password").wait_for()
    text = body(b_gallery)
    for secret in (NAME_A, NAME_B, job_a, job_b, "Every job", "Reset the class", "Storage"):
        assert secret not in text, secret
    field(b_gallery, "Teacher password").fill("not the password")
    b_gallery.get_by_role("button", name=re.compile("Open the teacher's view")).click()
    b_gallery.get_by_text("That is not the teacher password.").wait_for()
    wait_idle(b_gallery)
    assert NAME_A not in body(b_gallery) and job_a not in body(b_gallery)
    screenshot(b_gallery, "class-student-on-teacher-page")

    # ---- the teacher: password, every job by the students' names.
    t_ctx, t = open_page(browser, f"{class_server}/teacher")
    field(t, "Teacher password").fill(PASSWORD)
    t.get_by_role("button", name=re.compile("Open the teacher's view")).click()
    t.get_by_role("heading", name="Every job").wait_for()
    wait_idle(t)
    assert not exception_texts(t)
    screenshot(t, "class-teacher-overview")
    # The multiselect lists every job as "student · page · state · id".
    widget(t, "stMultiSelect", "Jobs to cancel or delete").locator('[role="combobox"]').first.click()
    options = [o.inner_text() for o in t.get_by_role("option").all()]
    t.keyboard.press("Escape")
    assert any(NAME_A in o and job_a in o and "Fine-tune" in o for o in options), options
    assert any(NAME_B in o and job_b in o for o in options), options

    # A job found by the reference a student reads out (the first characters of its id).
    text = find_reference(t, job_a[:8])
    assert f"{NAME_A} · Fine-tune on your images · done · {job_a}" in text, text
    assert code_a not in text
    screenshot(t, "class-teacher-reference")

    # Cancel B's runaway job, then delete it.
    pick(t, "Jobs to cancel or delete", f"{NAME_B} · Fine-tune on your images · {job_b}")
    t.get_by_role("button", name=re.compile("Cancel chosen jobs")).click()
    wait_idle(t)
    deadline = time.monotonic() + 60
    while f"cancelled · {job_b}" not in find_reference(t, job_b):
        assert time.monotonic() < deadline, "B's job did not stop"
        t.get_by_role("button", name=re.compile("Refresh")).click()
        wait_idle(t)
    screenshot(t, "class-teacher-cancelled")
    assert "running" not in widget(t, "stMultiSelect", "Jobs to cancel or delete").inner_text()  # no stale state
    t.get_by_role("button", name=re.compile("Delete chosen jobs")).click()
    t.get_by_text("Deleted 1 job(s).").wait_for()
    wait_idle(t)
    screenshot(t, "class-teacher-deleted")
    assert job_b not in widget(t, "stMultiSelect", "Jobs to cancel or delete").inner_text()  # no stale choice
    t.get_by_role("button", name=re.compile("Refresh")).click()
    wait_idle(t)
    find_reference(t, job_b)
    t.get_by_text("No job matches this reference").wait_for()
    # B's page says the teacher removed the job (B owns it; a stranger with the link reads "no job with this id").
    b.reload()
    wait_idle(b)
    b.get_by_text(re.compile("Your teacher removed this job")).first.wait_for()

    # Hide A's entry from the gallery (the teacher's session: through the sidebar), B no longer sees it.
    navigate(t, "Class gallery")
    t.get_by_role("button", name=re.compile("Hide from the gallery")).click()
    wait_idle(t)
    t.get_by_text("Nothing published yet").wait_for()
    screenshot(t, "class-teacher-hid-entry")
    b_gallery.goto(f"{class_server}/gallery")
    wait_idle(b_gallery)
    assert NAME_A not in body(b_gallery) and "Nothing published yet" in body(b_gallery)

    # ---- the class reset, confirmed by typing RESET.
    navigate(t, "Teacher")
    t.get_by_role("heading", name="Every job").wait_for()
    reset = t.get_by_role("button", name=re.compile("Reset the class"))
    reset.click()
    t.get_by_text("Type RESET in the box to reset the class.").wait_for()
    wait_idle(t)
    assert f"done · {job_a}" in find_reference(t, job_a)  # nothing deleted without the word
    t.get_by_role("textbox", name="Type RESET to confirm", exact=True).fill("RESET")
    reset.click()
    t.get_by_text(re.compile(r"Class reset: 1 job\(s\)")).wait_for()
    wait_idle(t)
    t.get_by_text("No job matches this reference").wait_for()
    assert not exception_texts(t)
    screenshot(t, "class-teacher-after-reset")
    a.goto(f"{class_server}/finetune?job={job_a}")
    wait_idle(a)
    a.get_by_text(re.compile("There is no job with this id")).first.wait_for()
    assert "Recovery code of this job" not in body(a)
    for ctx in (a_ctx, b_ctx, t_ctx):
        ctx.close()
    print(f"class day in the browser: {time.perf_counter() - t0:.1f} s")
