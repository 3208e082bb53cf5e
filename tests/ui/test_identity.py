"""Who owns a job (sign-in, trusted proxy header, HttpOnly browser cookie) and fair shares of the queue and disk.

Unit tests of ``cnn_demo.jobs`` (recovery codes, per-address and per-user shares) and of the cookie middleware
(driven as an ASGI app), and AppTests of the job panel as a signed-in user. Real browsers: ``test_browser_identity``.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.settings import Settings
from cnn_demo.ui import identity
from cnn_demo.ui.jobs import NOT_YOURS_TAB
from tests.ui.test_jobs import KIND, open_here, panel_page, shown, url_job


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CNN_DEMO_JOB_MODULES", "tests.jobs_fixture")
    monkeypatch.setenv("CNN_DEMO_AUTO_RESUME", "0")
    return tmp_path / "state"


def test_identity_settings():
    s = Settings.from_env({})
    assert (s.jobs_per_address, s.disk_per_user_mb, s.disk_per_address_mb) == (60, 500.0, 15000.0)  # a class of 30
    assert s.trusted_user_header is None and s.trusted_address_header is None
    s = Settings.from_env(
        {
            "CNN_DEMO_JOBS_PER_ADDRESS": "3",
            "CNN_DEMO_DISK_PER_USER_MB": "50",
            "CNN_DEMO_DISK_PER_ADDRESS_MB": "80",
            "CNN_DEMO_TRUSTED_USER_HEADER": " X-Forwarded-User ",
            "CNN_DEMO_TRUSTED_ADDRESS_HEADER": "X-Real-IP",
        }
    )
    assert (s.jobs_per_address, s.disk_per_user_mb, s.disk_per_address_mb) == (3, 50.0, 80.0)
    assert (s.trusted_user_header, s.trusted_address_header) == ("X-Forwarded-User", "X-Real-IP")
    with pytest.raises(InputError, match="CNN_DEMO_JOBS_PER_ADDRESS must be at least 1"):
        Settings.from_env({"CNN_DEMO_JOBS_PER_ADDRESS": "0"})


def test_client_key_groups_an_ipv6_64_and_stores_no_address():
    a = jobs.client_key("2001:db8:1:2::10")
    assert a == jobs.client_key("2001:db8:1:2:ffff::1")  # one /64: one household, one phone
    assert a != jobs.client_key("2001:db8:1:3::10")
    assert jobs.client_key("10.0.0.7") != jobs.client_key("10.0.0.8")
    assert "10.0.0.7" not in jobs.client_key("10.0.0.7")
    assert jobs.client_key(None) == jobs.client_key("not an address") == jobs.UNKNOWN_CLIENT


def test_new_identities_from_one_address_cannot_fill_the_queue(state, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_ADDRESS", "3")
    monkeypatch.setenv("CNN_DEMO_QUEUE_CAPACITY", "5")
    laptop = jobs.client_key("192.168.1.20")
    for i in range(3):  # cleared cookies three times: three identities, one address
        jobs.submit(KIND, {"steps": 1}, f"fresh-identity-{i}", client=laptop)
    with pytest.raises(InputError, match=r"3 job\(s\) from your network address are already queued") as caught:
        jobs.submit(KIND, {"steps": 1}, "fresh-identity-3", client=laptop)
    assert "private window or cleared cookies count as the same address" in str(caught.value)
    # Other students still get in, up to the queue's capacity.
    jobs.submit(KIND, {"steps": 1}, "bob", client=jobs.client_key("192.168.1.21"))
    jobs.submit(KIND, {"steps": 1}, "carol", client=jobs.client_key("192.168.1.22"))
    with pytest.raises(InputError, match="The training queue is full"):
        jobs.submit(KIND, {"steps": 1}, "dave", client=jobs.client_key("192.168.1.23"))


def test_resuming_cancelled_jobs_cannot_get_around_the_shares(state, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_USER", "2")
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_ADDRESS", "3")
    laptop = jobs.client_key("192.168.1.20")
    first = [jobs.submit(KIND, {"steps": 1}, "alice", client=laptop) for _ in range(2)]
    for job in first:
        jobs.cancel(job, "alice")
    jobs.submit(KIND, {"steps": 1}, "alice", client=laptop)
    jobs.resume(first[0], "alice")
    with pytest.raises(InputError, match="You already have 2 job"):
        jobs.resume(first[1], "alice")  # a third active job of alice's
    other = jobs.submit(KIND, {"steps": 1}, "alice-again", client=laptop)
    jobs.cancel(other, "alice-again")
    jobs.submit(KIND, {"steps": 1}, "alice-3", client=laptop)  # the laptop's third active job
    with pytest.raises(InputError, match="from your network address"):
        jobs.resume(other, "alice-again")  # a fourth from the laptop


def test_disk_shares_per_user_and_per_address(state, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_DISK_PER_USER_MB", "2")
    monkeypatch.setenv("CNN_DEMO_DISK_PER_ADDRESS_MB", "3")
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_USER", "10")
    laptop = jobs.client_key("192.168.1.20")
    first = jobs.submit(KIND, {"steps": 1}, "alice", files={"data.zip": b"x" * 1_500_000}, client=laptop)
    jobs.cancel(first, "alice")
    with pytest.raises(
        InputError, match=r"Your jobs and uploads take 2 MB on the server and this job brings 1 MB, more"
    ):
        jobs.submit(KIND, {"steps": 1}, "alice", files={"data.zip": b"x" * 600_000}, client=laptop)
    jobs.submit(KIND, {"steps": 1}, "alice-2", files={"data.zip": b"x" * 1_400_000}, client=laptop)
    with pytest.raises(InputError, match=r"from your network address take 3 MB .* than the 3 MB"):
        jobs.submit(KIND, {"steps": 1}, "alice-3", files={"data.zip": b"x" * 200_000}, client=laptop)
    jobs.delete(first, "alice")  # frees both shares
    jobs.submit(KIND, {"steps": 1}, "alice-3", files={"data.zip": b"x" * 200_000}, client=laptop)
    assert not (state / "jobs" / first).exists()


def test_recovery_codes_are_hashed_replaceable_and_not_guessable(state):
    job = jobs.submit(KIND, {"steps": 1}, "alice")
    old = jobs.new_recovery_code(job, "alice")
    code = jobs.new_recovery_code(job, "alice")  # a new code replaces the old one
    assert old != code and len(code.replace("-", "")) == 16
    with pytest.raises(InputError, match="does not belong to this job"):
        jobs.claim(job, old, "phone")
    assert jobs.claim(job, code, "phone").job_id == job
    assert [j.job_id for j in jobs.list_jobs("phone")] == [job]
    jobs.cancel(job, "phone")  # the phone may act on it now
    with pytest.raises(InputError, match=jobs.NOT_FOUND[:20]):
        jobs.claim("x" * 22, code, "phone")
    other = jobs.submit(KIND, {"steps": 1}, "bob")
    right = jobs.new_recovery_code(other, "bob")
    for i in range(jobs.RECOVERY_TRIES):
        with pytest.raises(InputError, match=f"\\({jobs.RECOVERY_TRIES - 1 - i} tries left\\)"):
            jobs.claim(other, f"AAAA-AAAA-AAAA-{i:04d}", "mallory")
    with pytest.raises(InputError, match="Too many wrong codes"):
        jobs.claim(other, right, "mallory")  # even the right code, once mallory's tries are spent
    with pytest.raises(jobs.NotYourJob):
        jobs.status(other, "mallory")


def test_delete_refuses_an_active_job(state):
    job = jobs.submit(KIND, {"steps": 1}, "alice")
    with pytest.raises(InputError, match="Cancel this job before deleting it"):
        jobs.delete(job, "alice")


def test_install_browser_cookie_wraps_streamlits_middleware_once():
    from streamlit.web.server.starlette import starlette_app

    original = starlette_app.create_streamlit_middleware
    try:
        identity.install_browser_cookie()
        identity.install_browser_cookie()
        stack = starlette_app.create_streamlit_middleware()
        assert [m.cls for m in stack].count(identity.BrowserCookieMiddleware) == 1
        assert stack[0].cls is identity.BrowserCookieMiddleware
        assert len(stack) == len(original()) + 1
    finally:
        starlette_app.create_streamlit_middleware = original


def signed_in(sub: str, name: str) -> AppTest:
    at = AppTest.from_function(panel_page, kwargs={"kind": KIND}, default_timeout=60)
    at.user = {"is_logged_in": True, "iss": "https://login.school.example", "sub": sub, "name": name}
    at.run()
    assert not at.exception
    return at


def test_a_signed_in_users_jobs_follow_them_and_no_one_else(state):
    alice = signed_in("alice-sub", "Alice")
    assert "Signed in as **Alice**" in shown(alice)
    assert "Sign out" in {b.label for b in alice.button}
    alice.button(key="t_train").click().run()
    job = url_job(alice)
    assert job and "Waiting in the queue" in shown(alice)
    phone = signed_in("alice-sub", "Alice")  # the same person in another browser: no code needed
    phone.query_params["job"] = job
    phone.run()
    assert "Waiting in the queue" in shown(phone) and not phone.warning
    bob = signed_in("bob-sub", "Bob")
    bob.query_params["job"] = job
    bob.run()
    assert [w.value for w in bob.warning] == [jobs.NOT_YOURS] and "Waiting in the queue" not in shown(bob)
    assert job not in shown(bob)
    stranger = AppTest.from_function(panel_page, kwargs={"kind": KIND}, default_timeout=60)
    stranger.query_params["job"] = job
    stranger.run()  # not signed in, no cookie: a tab of its own, told so (not "another browser")
    assert [w.value for w in stranger.warning] == [NOT_YOURS_TAB]
    assert "kept for **this tab only**" in shown(stranger)
    assert open_here(bob) is not None  # and Bob is offered the recovery form, not the job
