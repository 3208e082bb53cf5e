"""Attacks on a live class server from real browsers, with a second server on another port of the same host name
playing the attacker's service (issue 22): identity cookies tossed and replayed, proxy headers, upload PUTs that no
uploader asked for, and an upload the server lost in a restart.

What cannot be protected is shown too: over plain HTTP, a service on another port of the app's host name receives
the identity cookie (browsers do not separate cookies by port); over HTTPS it cannot (the ``__Host-`` cookie is
Secure), which is why ``serve`` warns and docs/SCALE_OUT.md tells operators to give the app a host name of its own.
"""

from __future__ import annotations

import http.client
import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

from cnn_demo.ui.gatekeeper import BROWSER_COOKIE, SECURE_BROWSER_COOKIE
from tests.browser.test_identity import NOT_YOURS_START, body, open_page, start_job
from tests.browser_helpers import exception_texts, screenshot, wait_idle
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_http
from tests.hostile import png_bytes

pytestmark = pytest.mark.browser


class Attacker:
    """An HTTP service on another port of the same machine: records the cookies browsers send it, and sets any
    cookie asked for with ``/toss?c=<Set-Cookie value>`` ("cookie tossing")."""

    def __init__(self) -> None:
        self.received: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.received.extend(self.headers.get_all("Cookie") or [])
                self.send_response(200 if self.path != "/favicon.ico" else 204)
                for value in parse_qs(urlsplit(self.path).query).get("c", []):
                    self.send_header("Set-Cookie", value)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<html><body><h1>A student's own web app</h1></body></html>")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def cookies(self, name: str) -> list[str]:
        return [m for c in self.received for m in re.findall(rf"(?:^|; ){re.escape(name)}=([^;]*)", c)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    a = Attacker()
    try:
        yield a
    finally:
        a.close()


def cookie_of(ctx, name: str = BROWSER_COOKIE) -> str | None:
    return next((c["value"] for c in ctx.cookies() if c["name"] == name), None)


def test_tossed_and_replayed_cookies_over_plain_http(app_server, browser, attacker):
    host = "127.0.0.1"
    evil = f"http://{host}:{attacker.port}"
    victim_ctx, page = open_page(browser, f"{app_server}/localization")
    mine = cookie_of(victim_ctx)
    assert mine and "." in mine  # a value the server signed
    link, _, _ = start_job(page)

    # The limit of plain HTTP on a shared host name: the other service receives the cookie (documented; serve warns).
    page.goto(evil)
    assert mine in attacker.cookies(BROWSER_COOKIE)

    # Tossed values the server did not sign are replaced on the next page load, never adopted.
    for tossed in ("x", "A" * 43, mine[:-3] + "AAA"):
        page.goto(f"{evil}/toss?c={BROWSER_COOKIE}={tossed};Path=/")
        assert cookie_of(victim_ctx) == tossed
        page.goto(f"{app_server}/localization")
        wait_idle(page)
        now = cookie_of(victim_ctx)
        assert now and now != tossed and "." in now, tossed
        assert "Your jobs are kept for this browser" in body(page)  # an identity, not "this tab only"
    page.goto(link)
    wait_idle(page)
    assert NOT_YOURS_START in body(page) and not exception_texts(page)  # the tossing cost the victim the cookie,
    screenshot(page, "attack-tossed-cookie-replaced")  # (its recovery code opens the job again), gave no one else it
    victim_ctx.close()


@pytest.fixture
def https_app(tmp_path_factory, attacker) -> Iterator[tuple[str, str]]:
    """The app over HTTPS on https://cnn.test:<port> (a host name of its own, mapped to 127.0.0.1 in the browser),
    started after the attacker's service so that serve's warning names it; yields (URL, serve's log)."""
    home = tmp_path_factory.mktemp("https-app")
    cert, key = home / "cert.pem", home / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cnn.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    env = dict(
        os.environ,
        CNN_DEMO_STATE_DIR=str(home / "state"),
        STREAMLIT_SERVER_SSL_CERT_FILE=str(cert),
        STREAMLIT_SERVER_SSL_KEY_FILE=str(key),
        PYTHONUNBUFFERED="1",
    )
    log_path = home / "serve.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_demo", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        import ssl
        import urllib.request

        unverified = ssl._create_unverified_context()
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/_stcore/health", timeout=2, context=unverified)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield f"https://cnn.test:{port}", str(log_path)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_over_https_the_cookie_is_out_of_reach_of_other_services_on_the_host_name(chromium, https_app, attacker):
    url, log = https_app
    evil = f"http://cnn.test:{attacker.port}"
    problems: list[str] = []
    engine = chromium.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP cnn.test 127.0.0.1"]
    )
    try:
        victim_ctx = engine.new_context(ignore_https_errors=True, viewport={"width": 1300, "height": 1000})
        victim_ctx.on("weberror", lambda e: problems.append(str(e.error)))
        page = victim_ctx.new_page()
        page.goto(f"{url}/localization")
        wait_idle(page)
        (cookie,) = [c for c in victim_ctx.cookies() if c["name"] == SECURE_BROWSER_COOKIE]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/" and not cookie_of(victim_ctx)
        link, job_id, _ = start_job(page)

        # Replay: the plain-HTTP service on another port receives nothing of it.
        page.goto(evil)
        assert attacker.received == [] or not attacker.cookies(SECURE_BROWSER_COOKIE)
        # Tossing: it can set neither the __Host- cookie nor one the app would read; not even a value the app
        # minted for the attacker (which a plain-HTTP app could not tell from the victim's own).
        attacker_ctx = engine.new_context(ignore_https_errors=True)
        theirs_page = attacker_ctx.new_page()
        theirs_page.goto(f"{url}/localization")
        wait_idle(theirs_page)
        theirs = next(c["value"] for c in attacker_ctx.cookies() if c["name"] == SECURE_BROWSER_COOKIE)
        for tossed in (f"{SECURE_BROWSER_COOKIE}={theirs};Path=/", f"{BROWSER_COOKIE}={theirs};Path=/"):
            page.goto(f"{evil}/toss?c={tossed}")
        assert [c["value"] for c in victim_ctx.cookies() if c["name"] == SECURE_BROWSER_COOKIE] == [cookie["value"]]
        page.goto(link)
        wait_idle(page)
        assert job_id in body(page) and NOT_YOURS_START not in body(page)  # still the victim's own job
        screenshot(page, "attack-https-cookie-kept")
        assert not problems and not exception_texts(page)
    finally:
        engine.close()
    text = Path(log).read_text()
    assert "other services listen on this machine" in text and str(attacker.port) in text, text


# ------------------------------------------------------------------------------------------------------ uploads


def _server_pid(base: str) -> int:
    port = urlsplit(base).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise AssertionError(f"no process listens on {port}")


def _session_ids(page) -> list[str]:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ids: list[str] = []

    def frame(payload) -> None:
        if isinstance(payload, bytes | bytearray):
            msg = ForwardMsg()
            try:
                msg.ParseFromString(bytes(payload))
            except Exception:
                return
            if msg.WhichOneof("type") == "new_session":
                ids.append(msg.new_session.initialize.session_id)

    page.on("websocket", lambda ws: ws.on("framereceived", frame))
    return ids


def put_upload(base: str, session_id: str, file_id: str, data: bytes, xsrf: str) -> int:
    """One upload PUT as Streamlit's frontend sends it (multipart, XSRF cookie and header); its HTTP status."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.putrequest("PUT", f"/_stcore/upload_file/{session_id}/{file_id}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + len(data) + len(tail)))
    conn.putheader("Cookie", f"_streamlit_xsrf={xsrf}")
    conn.putheader("X-Xsrftoken", xsrf)
    conn.endheaders()
    try:
        for chunk in (head, *(data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)), tail):
            conn.send(chunk)
    except OSError:
        pass  # refused before the body was read: the server closed the connection
    try:
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def test_upload_puts_no_uploader_asked_for_are_refused_and_cost_no_memory(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    ids = _session_ids(page)
    page.goto(f"{app_server}/pixels")
    wait_idle(page)
    own = ids[-1]
    xsrf = next(c["value"] for c in ctx.cookies() if c["name"] == "_streamlit_xsrf")
    server = psutil.Process(_server_pid(app_server))
    before = server.memory_info().rss
    blob = b"\0" * 95_000_000
    statuses = [put_upload(app_server, own, str(uuid.uuid4()), blob, xsrf) for _ in range(10)]
    grew = (server.memory_info().rss - before) / 1e6
    assert statuses == [403] * 10, statuses  # Streamlit alone: 204 each, and 950 MB held until the server stops
    assert grew < 100, f"the server grew by {grew:.0f} MB"

    # Another browser, with its own XSRF cookie and header, cannot put a file into this session either.
    other = browser.new_context()
    other.new_page().goto(f"{app_server}/_stcore/health")
    other_page = other.new_page()
    other_page.goto(f"{app_server}/pixels")
    wait_idle(other_page)
    theirs = next(c["value"] for c in other.cookies() if c["name"] == "_streamlit_xsrf")
    assert put_upload(app_server, own, str(uuid.uuid4()), png_bytes(1), theirs) == 403

    # The session's own uploader still works.
    page.get_by_text("Upload", exact=True).first.click()
    wait_idle(page)
    tmp = ROOT / "test-artifacts"
    tmp.mkdir(exist_ok=True)
    (tmp / "attack-upload.png").write_bytes(png_bytes(3, (40, 30)))
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(tmp / "attack-upload.png"))
    page.get_by_text("Uploaded attack").first.wait_for(timeout=60_000)
    assert not exception_texts(page)
    ctx.close()
    other.close()


def _serve(port: int, state: str, log) -> subprocess.Popen:
    env = dict(os.environ, CNN_DEMO_STATE_DIR=state, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "cnn_demo", "serve", "--no-worker", "--port", str(port), "--address", "127.0.0.1"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_an_upload_the_server_lost_in_a_restart_is_named(browser, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = _serve(port, str(tmp_path / "state"), log)
    try:
        wait_http(f"{base}/_stcore/health", timeout=120)
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{base}/pixels")
        wait_idle(page)
        page.get_by_text("Upload", exact=True).first.click()
        wait_idle(page)
        (tmp_path / "mine.png").write_bytes(png_bytes(4, (40, 30)))
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(tmp_path / "mine.png"))
        page.get_by_text("Uploaded mine").first.wait_for(timeout=60_000)
        _stop(proc)  # the server restarts: the uploaded file was in its memory only
        # While it is down, the page says so in the console (and retries): expected here.
        browser.allow(r"WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource|health|server is not responding")
        reconnected = threading.Event()
        page.on("websocket", lambda ws: reconnected.set())
        proc = _serve(port, str(tmp_path / "state"), log)
        wait_http(f"{base}/_stcore/health", timeout=120)
        deadline = time.monotonic() + 90
        while not reconnected.is_set() and time.monotonic() < deadline:
            page.wait_for_timeout(200)  # the page reconnects by itself, to a new session of the new server
        # The next thing the student does reruns the page: the uploader still names the file, the server has none.
        page.get_by_text("Grayscale", exact=True).first.click()
        page.get_by_text("is no longer on the server").first.wait_for(timeout=90_000)
        wait_idle(page)
        screenshot(page, "attack-upload-lost-in-restart")
        assert "mine.png" in body(page) and not exception_texts(page)  # the uploader still shows it: now explained
        ctx.close()
    finally:
        _stop(proc)
        log.close()


def test_a_file_name_is_shown_as_typed_never_as_an_icon(app_server, browser):
    name = ":material/warning: **bold** :smile:.png"  # a name no file system allows, but a browser can send
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{app_server}/pixels")
    wait_idle(page)
    page.get_by_text("Upload", exact=True).first.click()
    wait_idle(page)
    payload = {"name": name, "mimeType": "image/png", "buffer": png_bytes(5, (40, 30))}
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(payload)
    caption = page.locator('[data-testid="stCaptionContainer"]', has_text="Uploaded").first
    caption.wait_for(timeout=60_000)
    text = caption.inner_text().replace("\u2060", "")
    assert f"Uploaded {name}" in text, text  # every character as typed: no icon, no bold, no emoji
    assert caption.locator('[data-testid="stIconMaterial"], strong, b').count() == 0
    screenshot(page, "attack-file-name-literal")
    ctx.close()
