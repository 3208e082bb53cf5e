"""Sign-in that fails says so in a sentence (issue 22): an ``[auth]`` section lacking keys offers no *Sign in* (and
``serve`` names what is missing), a provider that does not answer is reported before the student is sent to it, and
one that fails half-way brings the student back to the app with a message, not to a bare "Authentication error".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnn_demo.ui import signin
from tests.browser_helpers import exception_texts, screenshot, wait_idle
from tests.conftest import ROOT, app_test, free_port, wait_http


def through(
    path: str, status: int, response: list[tuple[bytes, bytes]], query: bytes = b"", headers: list | None = None
) -> tuple[int, dict]:
    """One response of Streamlit's auth routes through :class:`SignInErrors`: the status and headers sent."""
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": b"Authentication error"})

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": headers or []}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, signin.SignInErrors(app)(scope, None, send)).result()
    return sent[0]["status"], dict(sent[0]["headers"])


def test_failed_sign_ins_come_back_to_the_app():
    assert through("/auth/login", 400, []) == (302, {b"location": b"/?signin=failed", b"content-length": b"0"})
    came_from = [(b"host", b"cnn.school:8501"), (b"referer", b"http://cnn.school:8501/finetune?job=abc")]
    assert through("/auth/login", 400, [], headers=came_from)[1][b"location"] == b"/finetune?job=abc&signin=failed"
    elsewhere = [(b"host", b"cnn.school:8501"), (b"referer", b"http://evil.test/finetune")]
    assert through("/auth/login", 400, [], headers=elsewhere)[1][b"location"] == b"/?signin=failed"
    assert through("/class/auth/login", 400, [])[1][b"location"] == b"/class/?signin=failed"  # behind a path prefix
    back = [(b"location", b"/")]
    user = (b"set-cookie", b"_streamlit_user=eyJ...; Path=/; HttpOnly")
    cleared = (b"set-cookie", b"_streamlit_user=; Max-Age=0; Path=/")
    assert through("/oauth2callback", 302, [*back, cleared], b"code=x&state=y")[1][b"location"].endswith(b"failed")
    assert through("/oauth2callback", 302, [*back, user], b"code=x&state=y")[0:2] == (302, dict([*back, user]))
    assert through("/oauth2callback", 302, back, b"")[1] == dict(back)  # back from signing out: no failure
    assert through("/", 400, [])[0] == 400


def test_an_incomplete_auth_section_is_named_for_the_operator(tmp_path):
    assert signin.sign_in_problem({}) is None
    problem = signin.sign_in_problem({"redirect_uri": "https://x/oauth2callback"})
    assert "lacks cookie_secret, [auth] client_id, [auth] client_secret, [auth] server_metadata_url" in problem
    named = {"redirect_uri": "r", "cookie_secret": "c", "school": {"client_id": "i", "client_secret": "s"}}
    assert "lacks [auth.school] server_metadata_url" in signin.sign_in_problem(named)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\nredirect_uri = "r"\n')
    assert signin.secrets_auth_section((tmp_path,)) == {"redirect_uri": "r"}


def test_every_page_explains_a_failed_sign_in(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    at = app_test("app_pages/applications/localization.py")
    at.query_params["signin"] = "failed"
    at.run()
    assert signin.SIGNIN_FAILED in [w.value for w in at.warning] and "signin" not in at.query_params


class FlakyProvider:
    """An OpenID provider that answers its configuration ``answers`` times, then fails (500)."""

    def __init__(self, answers: int) -> None:
        self.answers = answers
        self.asked: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.asked.append(self.path)
                if owner.answers <= 0:
                    self.send_response(500)
                    self.end_headers()
                    return
                owner.answers -= 1
                base = f"http://127.0.0.1:{owner.port}"
                body = json.dumps({"issuer": base, "authorization_endpoint": f"{base}/authorize"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(home: Path, auth: str) -> tuple[subprocess.Popen, str, Path]:
    (home / ".streamlit").mkdir(parents=True)
    port = free_port()
    (home / ".streamlit" / "secrets.toml").write_text(auth.format(port=port))
    env = dict(os.environ, HOME=str(home), CNN_DEMO_STATE_DIR=str(home / "state"), PYTHONUNBUFFERED="1")
    log = home / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_demo", "serve", "--no-worker", "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/_stcore/health", timeout=120)
    return proc, url, log


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def flaky() -> Iterator[FlakyProvider]:
    provider = FlakyProvider(answers=0)
    yield provider
    provider.close()


COMPLETE = (
    "[auth]\n"
    'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
    'cookie_secret = "a-long-random-cookie-secret-for-the-test-only-0123456789"\n'
    'client_id = "cnn-demo"\n'
    'client_secret = "test-secret"\n'
    'server_metadata_url = "http://127.0.0.1:PROVIDER/.well-known/openid-configuration"\n'
)


@pytest.mark.browser
def test_sign_in_with_a_provider_that_does_not_answer(browser, tmp_path, flaky):
    proc, url, _ = _serve(tmp_path / "server", COMPLETE.replace("PROVIDER", str(flaky.port)))
    try:
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{url}/localization")
        wait_idle(page)
        sign_in = page.get_by_role("button", name=re.compile("Sign in to keep your jobs"))
        # It does not answer: said before the student is sent anywhere.
        sign_in.click()
        page.get_by_text("Sign-in is not available right now").first.wait_for(timeout=60_000)
        assert page.url.startswith(f"{url}/localization") and not exception_texts(page)
        # It answers the app's check, then fails when Streamlit asks it again at /auth/login (before: a bare
        # "Authentication error" page); the student is back on the page with a sentence.
        flaky.answers = 1
        wait_idle(page)
        sign_in.click()
        page.get_by_text("Signing in did not work").first.wait_for(timeout=60_000)
        wait_idle(page)
        assert page.url.startswith(f"{url}/localization") and "Authentication error" not in page.inner_text("body")
        assert len(flaky.asked) == 3  # refused, answered the app's check, refused Streamlit's own
        screenshot(page, "signin-failed-half-way")
        assert not exception_texts(page)
        ctx.close()
    finally:
        _stop(proc)


@pytest.mark.browser
def test_an_incomplete_auth_section_offers_no_sign_in(browser, tmp_path):
    only_redirect = '[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
    proc, url, log = _serve(tmp_path / "server", only_redirect)
    try:
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{url}/localization")
        wait_idle(page)
        assert "Your jobs are kept for this browser" in page.inner_text("body")
        assert page.get_by_role("button", name=re.compile("Sign in")).count() == 0 and not exception_texts(page)
        ctx.close()
    finally:
        _stop(proc)
    assert "sign-in is not offered" in log.read_text() and "cookie_secret, [auth] client_id" in log.read_text()
    assert "An update to the [server] config" not in log.read_text()
