"""The web server's front door (``cnn_demo.ui.gatekeeper``), driven as an ASGI app: only identity cookies the server
signed are adopted, ``__Host-`` under HTTPS, proxy headers only from configured proxies, the peer address for
loopback connections, and a request context no client can forge. Real browsers: ``test_browser_attack``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import stat

import pytest
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.jobs import keys
from cnn_demo.settings import Settings, get_settings
from cnn_demo.ui import gatekeeper as gk
from tests.conftest import shown_errors
from tests.jobs_fixture import job_env
from tests.ui.test_jobs import panel_page

PAGE = {"Accept": "text/html,application/xhtml+xml"}
STUDENT = ("198.51.100.23", 50000)


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    for name in ("CNN_DEMO_TRUSTED_PROXIES", "CNN_DEMO_PROXY_SECRET", "CNN_DEMO_TRUSTED_USER_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CNN_DEMO_TRUSTED_ADDRESS_HEADER", raising=False)
    return job_env(tmp_path, monkeypatch)


def call(
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    path: str = "/",
    scheme: str = "http",
    client: tuple[str, int] | None = STUDENT,
    kind: str = "http",
) -> tuple[list[str], gk.RequestFacts | None, dict[str, str]]:
    """One request (or websocket) through the middleware around a dummy app: the cookies it set, the facts the page
    would read, and the headers the app saw."""
    seen: dict = {}
    sent: list[dict] = []

    async def app(scope, receive, send):
        seen.update(scope)
        if kind == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": b"<html></html>"})

    async def send(message):
        sent.append(message)

    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    scope = {
        "type": kind,
        "method": "GET",
        "path": path,
        "scheme": scheme,
        "client": client,
        "headers": [(k.lower().encode(), v.encode()) for k, v in pairs],
    }
    # In a thread of its own: after a browser test, Playwright's sync API leaves an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, gk.IdentityMiddleware(app)(scope, None, send)).result()
    cookies = [v.decode() for m in sent[:1] for k, v in m.get("headers", []) if k == b"set-cookie"]
    app_headers: dict[str, str] = {}
    for k, v in seen["headers"]:
        app_headers.setdefault(k.decode(), v.decode())
    return cookies, gk.request_facts(app_headers.get(gk.CONTEXT_HEADER)), app_headers


def value_of(set_cookie: str) -> str:
    return set_cookie.split(";")[0].split("=", 1)[1]


def test_the_identity_cookie_is_minted_by_the_server_alone(env, tmp_path):
    (first,) = call(PAGE)[0]
    assert first.startswith(f"{gk.BROWSER_COOKIE}=") and "HttpOnly" in first and "SameSite=Lax" in first
    mine = value_of(first)
    cookies, facts, _ = call({**PAGE, "Cookie": f"{gk.BROWSER_COOKIE}={mine}"})
    assert cookies == [] and facts is not None and facts.browser and facts.browser in mine
    other_server = Settings.from_env({"CNN_DEMO_STATE_DIR": str(tmp_path / "other-server")})
    hostile = {
        "short": "x",
        "long unsigned": "A" * 43,
        "altered": mine[:-2] + ("AA" if not mine.endswith("AA") else "BB"),
        "another server's": gk.browser_cookie_value(other_server),
        "empty": "",
    }
    for what, value in hostile.items():
        cookies, facts, _ = call({**PAGE, "Cookie": f"{gk.BROWSER_COOKIE}={value}"})
        assert facts is not None and facts.browser is None, what  # never adopted ...
        (fresh,) = cookies  # ... replaced by a new one the server signed
        assert keys.verify(get_settings(), "browser-cookie", value_of(fresh)), what
    # Two values at once (another site set a second one with another path): neither is adopted.
    theirs = gk.browser_cookie_value(get_settings())
    cookies, facts, _ = call({**PAGE, "Cookie": f"{gk.BROWSER_COOKIE}={theirs}; {gk.BROWSER_COOKIE}={mine}"})
    assert facts.browser is None and len(cookies) == 1
    # Assets and the websocket never set it; the websocket reads it.
    assert call({**PAGE}, path="/static/js/index.js")[0] == []
    cookies, facts, _ = call({"Cookie": f"{gk.BROWSER_COOKIE}={mine}"}, kind="websocket", scheme="ws")
    assert cookies == [] and facts.browser in mine


def test_under_https_the_cookie_is_host_prefixed_and_secure(env):
    (cookie,) = call(PAGE, scheme="https")[0]
    assert cookie.startswith(f"{gk.SECURE_BROWSER_COOKIE}=") and "; Secure" in cookie and "Path=/;" in cookie
    assert "Domain" not in cookie
    value = value_of(cookie)
    assert call({**PAGE, "Cookie": f"{gk.SECURE_BROWSER_COOKIE}={value}"}, scheme="https")[1].browser
    # A plain-name cookie (which any http:// service on the host name can set) counts for nothing under HTTPS.
    cookies, facts, _ = call({**PAGE, "Cookie": f"{gk.BROWSER_COOKIE}={value}"}, scheme="https")
    assert facts.browser is None and cookies[0].startswith(gk.SECURE_BROWSER_COOKIE)
    assert call({"Cookie": f"{gk.SECURE_BROWSER_COOKIE}={value}"}, kind="websocket", scheme="wss")[1].browser


PROXY_HEADERS = {"X-Forwarded-User": "bob", "X-Real-IP": "203.0.113.77", "X-Forwarded-Proto": "https"}


def test_proxy_headers_are_believed_only_from_configured_proxies(env, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_TRUSTED_USER_HEADER", "X-Forwarded-User")
    monkeypatch.setenv("CNN_DEMO_TRUSTED_ADDRESS_HEADER", "X-Real-IP")
    # No proxy configured: any local account sending the headers to 127.0.0.1 gets nothing from them.
    for peer in ("127.0.0.1", "::1", "10.0.0.5"):
        _, facts, seen = call(PROXY_HEADERS, client=(peer, 1234), kind="websocket", scheme="ws")
        assert facts.user is None and facts.client == peer and not facts.secure, peer
        assert "x-forwarded-user" not in seen and "x-real-ip" not in seen  # removed before Streamlit sees them
    monkeypatch.setenv("CNN_DEMO_TRUSTED_PROXIES", "10.0.0.5, 10.9.0.0/16")
    _, facts, _ = call(PROXY_HEADERS, client=("10.0.0.5", 1234), kind="websocket", scheme="ws")
    assert (facts.user, facts.client, facts.peer, facts.secure) == ("bob", "203.0.113.77", "10.0.0.5", True)
    assert call(PROXY_HEADERS, client=("10.9.3.4", 1))[1].user == "bob"
    _, facts, _ = call(PROXY_HEADERS, client=("10.0.0.6", 1234))  # not the proxy
    assert facts.user is None and facts.client == "10.0.0.6"
    _, facts, _ = call(PROXY_HEADERS, client=("127.0.0.1", 1234))  # the machine itself is not the proxy either
    assert facts.user is None and facts.client == "127.0.0.1"
    # A trusted proxy that sends no address: the proxy's own address counts (one share for all behind it).
    assert call({"X-Forwarded-User": "bob"}, client=("10.0.0.5", 1))[1].client == "10.0.0.5"
    monkeypatch.setenv("CNN_DEMO_TRUSTED_ADDRESS_HEADER", "X-Forwarded-For")
    xff = {"X-Forwarded-For": "1.1.1.1, 203.0.113.8"}  # the client's claim, then the proxy's entry
    assert call(xff, client=("10.0.0.5", 1))[1].client == "203.0.113.8"


def test_a_proxy_on_the_same_machine_needs_its_secret(env, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_TRUSTED_USER_HEADER", "X-Forwarded-User")
    monkeypatch.setenv("CNN_DEMO_TRUSTED_PROXIES", "127.0.0.1")
    with pytest.raises(InputError, match="CNN_DEMO_PROXY_SECRET"):
        get_settings()
    secret = "s3cret-s3cret-s3cret-s3cret"
    monkeypatch.setenv("CNN_DEMO_PROXY_SECRET", secret)
    local = ("127.0.0.1", 4000)
    assert call({"X-Forwarded-User": "bob"}, client=local)[1].user is None  # another local account
    _, facts, seen = call({"X-Forwarded-User": "bob", gk.PROXY_SECRET_HEADER: secret}, client=local)
    assert facts.user == "bob" and gk.PROXY_SECRET_HEADER not in seen  # the secret goes no further


def test_no_client_can_send_its_own_request_context(env, tmp_path):
    forged = gk.RequestFacts(peer="1.2.3.4", client="1.2.3.4", user="teacher", browser="victim", secure=True)
    import base64
    import json
    from dataclasses import asdict

    payload = base64.urlsafe_b64encode(json.dumps(asdict(forged)).encode()).decode()
    other = Settings.from_env({"CNN_DEMO_STATE_DIR": str(tmp_path / "other-server")})
    for header in (payload, f"{payload}.AAAA", keys.sign(other, "request-context", payload)):
        assert gk.request_facts(header) is None  # what a page reads without the middleware (plain streamlit run)
        _, facts, _ = call({gk.CONTEXT_HEADER: header})  # and with it: replaced by the real facts
        assert facts.user is None and facts.client == STUDENT[0] and facts.browser is None


def _make_key(state: str, out) -> None:
    out.put(keys.server_key(Settings.from_env({"CNN_DEMO_STATE_DIR": state})).hex())


def test_the_server_key_is_made_once_readable_by_the_server_alone(tmp_path):
    state = str(tmp_path / "state")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_make_key, args=(state, out)) for _ in range(8)]
    for p in procs:
        p.start()
    made = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=30)
    assert len(made) == 1  # eight processes starting together agree on one key
    path = tmp_path / "state" / keys.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [keys.KEY_FILE]  # no temporary files left


def test_tabs_on_one_loopback_address_share_its_job_limit(env, monkeypatch):
    """Without the middleware (AppTest, plain ``streamlit run``) Streamlit reports no address for 127.0.0.1: those
    clients now share one address's share instead of escaping the per-address limit (before: 9 jobs of 9)."""
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_ADDRESS", "6")
    refused = 0
    for _ in range(9):  # cleared cookies nine times: nine tabs, nine identities
        at = AppTest.from_function(panel_page, kwargs={"kind": "test_count"}, default_timeout=60)
        at.run()
        at.button(key="t_train").click().run()
        assert not at.exception
        refused += any("from your network address" in e for e in shown_errors(at))
    assert refused == 3
    assert jobs.client_key(None) == jobs.client_key("not an address") == jobs.UNKNOWN_CLIENT


def test_the_loopback_peer_gets_its_own_disk_share(env, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_DISK_PER_ADDRESS_MB", "100")
    monkeypatch.setenv("CNN_DEMO_JOBS_PER_ADDRESS", "50")
    monkeypatch.setenv("CNN_DEMO_QUEUE_CAPACITY", "50")
    local = jobs.client_key(call({}, client=("127.0.0.1", 1))[1].client)
    assert local != jobs.UNKNOWN_CLIENT
    taken = 0
    for i in range(15):
        try:
            jobs.submit("test_count", {"steps": 1}, f"identity-{i}", files={"d.zip": b"x" * 9_900_000}, client=local)
            taken += 1
        except InputError as exc:
            assert "from your network address take" in str(exc)
    assert taken == 10  # 100 MB, not 150 (before: every one, the loopback address had no key)


def test_serve_warns_about_other_services_on_the_host_name_and_ignored_headers(env, monkeypatch):
    import ipaddress
    import socket

    from cnn_demo.ui import hostcheck

    with socket.socket() as other:  # another web service on this machine
        other.bind(("0.0.0.0", 0))
        other.listen()
        port = other.getsockname()[1]
        found = hostcheck.listening()
        assert (ipaddress.ip_address("0.0.0.0"), port) in found
        for bind in (None, "127.0.0.1", "0.0.0.0"):
            warning = hostcheck.shared_host_warning(8501, bind, found)
            assert warning and str(port) in warning and "host name of its own" in warning, bind
        assert str(port) not in (hostcheck.shared_host_warning(port, None, found) or "")  # not the app itself
    lone = [(ipaddress.ip_address("0.0.0.0"), 8501), (ipaddress.ip_address("127.0.0.1"), 6379)]
    assert hostcheck.shared_host_warning(8501, None, lone) is None  # a Redis on loopback is not on the host name
    monkeypatch.setenv("CNN_DEMO_TRUSTED_USER_HEADER", "X-Forwarded-User")
    (warning,) = hostcheck.settings_warnings(get_settings())
    assert "X-Forwarded-User will be ignored" in warning
    monkeypatch.setenv("CNN_DEMO_TRUSTED_PROXIES", "10.0.0.5")
    assert hostcheck.settings_warnings(get_settings()) == []
