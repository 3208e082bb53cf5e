"""Uploads held by the web server (``cnn_demo.ui.uploads``): only files a session's uploader asked for, from that
session's browser, within bounds, freed when the session is gone; a file the server lost is reported. The live
server: ``test_browser_attack``."""

from __future__ import annotations

import asyncio
import concurrent.futures
from types import SimpleNamespace

import pytest
from starlette.exceptions import HTTPException
from streamlit.runtime.uploaded_file_manager import UploadedFileRec
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

from cnn_demo.ui import uploads

MB = 1_000_000
TOKEN = b"0123456789abcdef"


@pytest.fixture
def limits(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CNN_DEMO_UPLOAD_SESSION_MB", "10")
    monkeypatch.setenv("CNN_DEMO_UPLOAD_ADDRESS_MB", "15")
    monkeypatch.setenv("CNN_DEMO_UPLOAD_TOTAL_MB", "25")


class Sessions:
    """Sessions as the runtime reports them: alive or not, each with its browser's XSRF cookie."""

    def __init__(self) -> None:
        self.alive: set[str] = set()

    def client(self, session_id: str):
        cookie = generate_xsrf_token_string(TOKEN if session_id != "other-browser" else b"fedcba9876543210")
        return SimpleNamespace(client_context=SimpleNamespace(cookies={uploads.XSRF_COOKIE: cookie}))


def manager(sessions: Sessions) -> uploads.SessionUploads:
    alive = sessions.alive.__contains__
    return uploads.SessionUploads("/_stcore/upload_file", alive=alive, client=sessions.client, timer=False)


def rec(file_id: str, size: int) -> UploadedFileRec:
    return UploadedFileRec(file_id=file_id, name="x.zip", type="application/zip", data=b"\0" * size)


def put(mgr, session: str, file_id: str, size: int, address: str | None = "198.51.100.1") -> int:
    """What the guard and then the route do with one PUT; returns its HTTP status."""
    token = uploads._peer.set(address)
    try:
        cookie = generate_xsrf_token_string(TOKEN)  # the browser's own pair (masked afresh, as every page load)
        status = mgr.refusal(session, file_id, cookie, size)
        if status:
            return status
        mgr.add_file(session, rec(file_id, size))
        return 204
    except HTTPException as exc:
        return exc.status_code
    finally:
        uploads._peer.reset(token)


def test_only_files_an_uploader_asked_for_are_taken(limits):
    sessions = Sessions()
    mgr = manager(sessions)
    sessions.alive.add("s1")
    assert put(mgr, "s1", "made-up-id", 1000) == 403  # no uploader asked: refused before the body is read
    with pytest.raises(HTTPException) as refused:
        mgr.add_file("s1", rec("made-up-id", 1000))  # and by the manager itself, should a request get past
    assert refused.value.status_code == 403
    (url,) = mgr.get_upload_urls("s1", ["data.zip"])
    assert put(mgr, "s1", url.file_id, 1000) == 204
    assert put(mgr, "s1", url.file_id, 1000) == 403  # each URL takes one file
    assert [f.file_id for f in mgr.get_files("s1", [url.file_id])] == [url.file_id]
    assert len(mgr.get_upload_urls("s1", ["x"] * 1000)) == uploads.MAX_PENDING


def test_a_put_from_another_browser_is_refused(limits):
    """A PUT to another session with the attacker's own XSRF cookie and header (Streamlit answers 204)."""
    sessions = Sessions()
    mgr = manager(sessions)
    (url,) = mgr.get_upload_urls("victim", ["a.png"])
    attacker_cookie = generate_xsrf_token_string(b"fedcba9876543210")
    assert mgr.refusal("victim", url.file_id, attacker_cookie, 100) == 403
    assert mgr.refusal("victim", url.file_id, None, 100) == 403
    assert mgr.refusal("victim", url.file_id, generate_xsrf_token_string(TOKEN), 100) == 0


def test_uploads_are_bounded_per_session_address_and_server(limits):
    sessions = Sessions()
    mgr = manager(sessions)
    urls = {s: [u.file_id for u in mgr.get_upload_urls(s, ["f"] * 5)] for s in ("a1", "a2", "b1", "c1")}
    assert put(mgr, "a1", urls["a1"][0], 6 * MB) == 204
    assert put(mgr, "a1", urls["a1"][1], 5 * MB) == 413  # 11 MB in one session
    assert put(mgr, "a2", urls["a2"][0], 6 * MB) == 204
    assert put(mgr, "a2", urls["a2"][1], 4 * MB) == 413  # 16 MB from one address (two sessions)
    assert put(mgr, "b1", urls["b1"][0], 9 * MB, address="203.0.113.2") == 204
    assert put(mgr, "c1", urls["c1"][0], 9 * MB, address="203.0.113.3") == 413  # 30 MB on the server
    assert mgr.held_bytes() == 21 * MB


def test_the_files_of_a_session_that_is_gone_are_freed(limits):
    sessions = Sessions()
    mgr = manager(sessions)
    mgr.disconnected_ttl = 120
    sessions.alive |= {"kept", "left"}
    for s in ("kept", "left"):
        (url,) = mgr.get_upload_urls(s, ["f"])
        assert put(mgr, s, url.file_id, 2 * MB) == 204
    mgr.sweep(now=1000.0)
    sessions.alive.discard("left")  # the tab was closed or reloaded (a new session)
    assert mgr.sweep(now=1060.0) == []  # it may still reconnect
    assert mgr.sweep(now=1121.0) == ["left"]
    assert mgr.held_bytes() == 2 * MB and mgr.get_files("left", ["f"]) == []


class Slot:
    def __init__(self) -> None:
        self.said: list[str] = []

    def warning(self, text: str, icon: str) -> None:
        self.said.append(text)


def test_a_file_the_server_no_longer_holds_is_reported(limits):
    sessions = Sessions()
    mgr = manager(sessions)
    slot = Slot()
    mgr.begin_run("s1", slot)
    assert mgr.get_files("s1", ["id-from-before-a-restart"]) == []
    assert mgr.get_files("s1", ["id-from-before-a-restart", "another"]) == []
    assert mgr.interrupted("s1") and slot.said == [uploads.INTERRUPTED]  # said once, at the top of the page
    mgr.begin_run("s1", Slot())
    assert not mgr.interrupted("s1")


def test_the_guard_answers_before_the_route(limits, monkeypatch):
    sessions = Sessions()
    mgr = manager(sessions)
    monkeypatch.setattr(uploads, "current_manager", lambda: mgr)
    reached: list = []

    async def route(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def status_of(path: str) -> int:
        sent: list = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "PUT", "path": path, "headers": [(b"content-length", b"95000000")]}
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, uploads.UploadGuard(route)(scope, None, send)).result()
        return sent[0]["status"]

    assert status_of("/_stcore/upload_file/s1/not-asked-for") == 403 and reached == []
    assert status_of("/_stcore/health") == 204 and reached == ["/_stcore/health"]
