"""Identity in real browsers: the HttpOnly browser cookie and recovery codes, a real OpenID Connect sign-in
(``st.login`` against a local provider, ``oidc-provider-mock``) and an authenticating proxy's header.

Each browser context is a separate browser (own cookies). The job is a localization training, cancelled at once
so the worker stays free for other tests.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pytest

from cnn_demo import jobs
from tests.browser_helpers import exception_texts, screenshot, wait_idle
from tests.conftest import free_port, served

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the mock provider's use of authlib, in-process
]

PROXY_SECRET = "the-proxy-secret-of-this-test-0123"
CODE_RE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b")
NOT_YOURS_START = jobs.NOT_YOURS.split(",")[0]


def open_page(browser, url: str, **context):
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000}, **context)
    page = ctx.new_page()
    page.goto(url)
    wait_idle(page)
    return ctx, page


def start_job(page, cancel: bool = True) -> tuple[str, str, str]:
    """Press Train on the localization page, note the recovery code, cancel the job (it stops at its next epoch);
    return (job link, job id, code)."""
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Recovery code of this job").first.wait_for(timeout=60_000)
    wait_idle(page)
    code = CODE_RE.search(page.inner_text("body")).group(0)
    if cancel:
        page.get_by_role("button", name=re.compile("Cancel")).click()
        wait_idle(page)
    job_id = re.search(r"job=([A-Za-z0-9_-]+)", page.url).group(1)
    return page.url, job_id, code


def body(page) -> str:
    return page.inner_text("body")


def test_browser_identity_cookie_and_recovery_code(app_server, browser):
    owner_ctx, page = open_page(browser, f"{app_server}/localization")
    (cookie,) = [c for c in owner_ctx.cookies() if c["name"] == "cnn_demo_browser"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and len(cookie["value"]) >= 40
    assert cookie["expires"] > time.time() + 300 * 86400  # kept when the browser restarts, unlike a session cookie
    assert "cnn_demo_browser" not in page.evaluate("document.cookie")  # no script in the page can read it
    assert "Your jobs are kept for this browser" in body(page)
    link, job_id, code = start_job(page)
    screenshot(page, "identity-owner-with-recovery-code")

    # The same browser, a new tab (closing the first): the job is there, no code asked.
    again = owner_ctx.new_page()
    page.close()
    again.goto(link)
    wait_idle(again)
    assert job_id in body(again) and NOT_YOURS_START not in body(again)

    # Another browser with the link only: told whose it is and how to open it; nothing of the job shown.
    other_ctx, other = open_page(browser, link)
    text = body(other)
    i = text.find(job_id)
    assert NOT_YOURS_START in text and job_id not in text, text[max(0, i - 300) : i + 100]
    screenshot(other, "identity-other-browser")
    other.get_by_label("Recovery code").fill("AAAA-BBBB-CCCC-DDDD")
    other.get_by_role("button", name=re.compile("Open this job here")).click()
    other.get_by_text("tries left").first.wait_for(timeout=30_000)
    other.get_by_label("Recovery code").fill(code.lower())
    other.get_by_role("button", name=re.compile("Open this job here")).click()
    other.get_by_text(job_id).first.wait_for(timeout=30_000)
    wait_idle(other)
    assert NOT_YOURS_START not in body(other) and not exception_texts(other)
    screenshot(other, "identity-other-browser-with-code")
    # Clearing cookies makes a new browser identity: the job is not shown without the code.
    other_ctx.clear_cookies()
    other.goto(link)
    wait_idle(other)
    assert NOT_YOURS_START in body(other)
    for ctx in (owner_ctx, other_ctx):
        ctx.close()


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory) -> Iterator[str]:
    """A real app server with ``st.login`` configured against a local OpenID Connect provider, trusted proxy
    headers for the user (``X-Test-User``) and the address (``X-Test-Addr``, one job per address), and no worker
    (jobs stay queued); yields the app's base URL."""
    from oidc_provider_mock import run_server_in_thread

    home = tmp_path_factory.mktemp("oidc-home")
    port = free_port()
    with run_server_in_thread() as provider:
        (home / ".streamlit").mkdir()
        (home / ".streamlit" / "secrets.toml").write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-long-random-cookie-secret-for-the-test-only-0123456789"\n'
            'client_id = "cnn-demo"\n'
            'client_secret = "test-secret"\n'
            f'server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"\n'
        )
        state = home / "state"
        env = dict(
            os.environ,
            HOME=str(home),  # Streamlit reads ~/.streamlit/secrets.toml
            CNN_DEMO_STATE_DIR=str(state),
            CNN_DEMO_TRUSTED_USER_HEADER="X-Test-User",
            CNN_DEMO_TRUSTED_ADDRESS_HEADER="X-Test-Addr",
            # The browser plays the proxy: on this machine, the headers count only with the proxy's secret.
            CNN_DEMO_TRUSTED_PROXIES="127.0.0.1",
            CNN_DEMO_PROXY_SECRET=PROXY_SECRET,
            CNN_DEMO_JOBS_PER_ADDRESS="1",
            PYTHONUNBUFFERED="1",
        )
        with served(env, home / "server.log", "--no-worker", port=port, timeout=120) as url:
            yield url


def sign_in(browser, url: str, sub: str):
    """A fresh browser that signs in as ``sub`` at the local provider; returns (context, page on /localization)."""
    ctx, page = open_page(browser, f"{url}/localization")
    assert "Your jobs are kept for this browser" in body(page)
    page.get_by_role("button", name=re.compile("Sign in to keep your jobs")).click()
    page.locator('input[name="sub"]').first.wait_for(timeout=30_000)
    page.locator('input[name="sub"]').last.fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(url)), timeout=60_000)
    page.goto(f"{url}/localization")
    wait_idle(page)
    page.get_by_text(f"Signed in as {sub}").first.wait_for(timeout=30_000)
    return ctx, page


def test_oidc_sign_in_two_users_isolated_and_one_user_on_two_browsers(oidc_server, browser):
    # The sign-in provider's own login form (oidc-provider-mock, not the app) links a CDN stylesheet and has no icon.
    browser.serve_locally("https://cdn.jsdelivr.net/**")
    browser.allow(r"404 \(NOT FOUND\) \(http://localhost:\d+/favicon\.ico\)")
    alice_ctx, alice = sign_in(browser, oidc_server, "alice")
    link, job_id, _ = start_job(alice)
    screenshot(alice, "identity-oidc-alice")

    # Alice on a second browser (another device): signing in is enough, no recovery code.
    laptop_ctx, laptop = sign_in(browser, oidc_server, "alice")
    laptop.goto(link)
    wait_idle(laptop)
    assert job_id in body(laptop) and NOT_YOURS_START not in body(laptop)

    # Bob in his own browser sees nothing of Alice's job.
    bob_ctx, bob = sign_in(browser, oidc_server, "bob")
    bob.goto(link)
    wait_idle(bob)
    assert NOT_YOURS_START in body(bob) and job_id not in body(bob)
    screenshot(bob, "identity-oidc-bob")

    # Signing out leaves Alice's browser with its own (browser) identity: her job is not shown there.
    laptop.get_by_role("button", name=re.compile("Sign out")).click()
    laptop.get_by_role("button", name="End session").click()  # the provider asks to confirm (end_session_endpoint)
    laptop.wait_for_url(re.compile(re.escape(oidc_server)), timeout=60_000)
    laptop.goto(link)
    wait_idle(laptop)
    assert NOT_YOURS_START in body(laptop) and not exception_texts(laptop)
    for ctx in (alice_ctx, laptop_ctx, bob_ctx):
        ctx.close()


def test_trusted_proxy_headers_give_the_user_and_the_address(oidc_server, browser):
    def as_user(user: str, address: str, url: str, secret: str = PROXY_SECRET):
        headers = {"X-Test-User": user, "X-Test-Addr": address, "X-Cnn-Demo-Proxy": secret}
        return open_page(browser, url, extra_http_headers=headers)

    # Any local account can connect to 127.0.0.1 and send the headers; without the proxy's secret they count for
    # nothing (before: that account was carol).
    forged_ctx, forged = as_user("carol", "10.1.1.1", f"{oidc_server}/localization", secret="guessed")
    assert "Signed in as carol" not in body(forged) and "Your jobs are kept for this browser" in body(forged)
    forged_ctx.close()
    first_ctx, first = as_user("carol", "10.1.1.1", f"{oidc_server}/localization")
    assert "Signed in as carol" in body(first) and "Sign in to keep" not in body(first)
    link, job_id, _ = start_job(first, cancel=False)  # stays queued: there is no worker
    second_ctx, second = as_user("carol", "10.1.1.2", link)  # carol on her phone
    assert job_id in body(second) and NOT_YOURS_START not in body(second)
    third_ctx, third = as_user("dave", "10.1.1.1", link)  # someone else behind carol's address
    assert NOT_YOURS_START in body(third) and job_id not in body(third)
    third.get_by_role("button", name="Train", exact=True).click()
    third.get_by_text("job(s) from your network address are already queued").first.wait_for(timeout=30_000)
    screenshot(third, "identity-address-share")
    fourth_ctx, fourth = as_user("erin", "10.1.1.3", f"{oidc_server}/localization")
    start_job(fourth)  # another address still gets in
    second.get_by_role("button", name=re.compile("Cancel")).click()
    wait_idle(second)
    for ctx in (first_ctx, second_ctx, third_ctx, fourth_ctx):
        ctx.close()
