"""Uploaded files held in the web server's memory: only what a session's open uploader asked for, bounded, and freed
when the session is gone.

Streamlit keeps every uploaded file in memory (``MemoryUploadedFileManager``) under the session it was sent to, and
its upload endpoint (``PUT /_stcore/upload_file/<session>/<file>``) takes any file id for any live session: ten
95 MB PUTs that no uploader asked for took a server from 921 to 1,873 MB, and a session that disconnects and expires
is dropped without its files ever being freed. :class:`SessionUploads` replaces that manager at server start
(``cnn_demo.ui.launch``):

- a PUT is taken only for a file id the session's uploader asked for (``get_upload_urls``), once, from the browser
  that holds the session (the same XSRF token as its websocket): anything else is refused with 403 before its body
  is read (:class:`UploadGuard`);
- what one session, one address and the whole server hold is bounded (``CNN_DEMO_UPLOAD_SESSION_MB``,
  ``..._ADDRESS_MB``, ``..._TOTAL_MB``): over it, 413;
- the files of a session that has not been connected for ``server.disconnectedSessionTTL`` seconds are freed;
- a session whose uploader names a file the server no longer holds (the server restarted during or after the upload)
  is told so at the top of the page (:func:`upload_notice_slot`), instead of a file name the page silently ignores.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec, UploadFileUrlInfo

from cnn_demo.settings import get_settings
from cnn_demo.ui.gatekeeper import CONTEXT_HEADER, cookie_values, request_facts

XSRF_COOKIE = "_streamlit_xsrf"
#: File ids a session may have asked for and not used yet (an uploader asks for one per file chosen).
MAX_PENDING = 200
#: How long an issued upload URL stays valid.
ISSUED_TTL_S = 3600.0
SWEEP_EVERY_S = 30.0
INTERRUPTED = (
    "A file you chose in an uploader on this page is no longer on the server (the server was restarted, or the page "
    "was left alone for a while), so the page cannot use it. Remove it with its × and upload it again."
)
_UPLOAD_PATH = re.compile(r"/_stcore/upload_file/([^/]+)/([^/]+)/?$")
_peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("cnn_demo_upload_peer", default=None)


def _xsrf_token(cookie: str | None) -> bytes | None:
    from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string

    return decode_xsrf_token_string(cookie or "")[0]


def _session_client(session_id: str) -> Any:
    from streamlit import runtime

    if not runtime.exists():
        return None
    return runtime.get_instance().get_client(session_id)


def _session_alive(session_id: str) -> bool:
    from streamlit import runtime

    return runtime.exists() and runtime.get_instance().is_active_session(session_id)


class SessionUploads(MemoryUploadedFileManager):
    """Streamlit's in-memory upload manager, holding only what sessions' uploaders asked for, within bounds."""

    def __init__(
        self, upload_endpoint: str, *, alive=_session_alive, client=_session_client, timer: bool = True
    ) -> None:
        super().__init__(upload_endpoint)
        s = get_settings()
        self.per_session = int(s.upload_session_mb * 1e6)
        self.per_address = int(s.upload_address_mb * 1e6)
        self.total = int(s.upload_total_mb * 1e6)
        self._alive, self._client = alive, client
        self._issued: dict[str, dict[str, tuple[float, bytes | None]]] = defaultdict(dict)
        self._address: dict[str, str | None] = {}  # session -> the address its files came from
        self._seen: dict[str, float] = {}  # session -> when it was last seen connected
        self._missing: set[str] = set()  # sessions whose uploader names a file the server does not hold
        self._slots: dict[str, Any] = {}  # session -> where its current run reports that
        self._guard = threading.Lock()
        self._next_sweep = 0.0
        from streamlit import config

        self.disconnected_ttl = float(config.get_option("server.disconnectedSessionTTL"))
        if timer:  # sessions that leave free their files even when no one uploads anything after them
            threading.Thread(target=self._sweeper, daemon=True, name="cnn-demo-upload-sweeper").start()

    def _sweeper(self) -> None:
        while True:
            time.sleep(SWEEP_EVERY_S / 2)
            try:
                self.sweep()
            except Exception:  # never let the timer die; the next upload sweeps too
                continue

    # ------------------------------------------------------------------ what sessions asked for

    def get_upload_urls(self, session_id: str, file_names: Sequence[str]) -> list[UploadFileUrlInfo]:
        """Upload URLs for the files a session's uploader is about to send (at most :data:`MAX_PENDING` open)."""
        self.sweep()
        client = self._client(session_id)
        context = getattr(client, "client_context", None)
        token = _xsrf_token(context.cookies.get(XSRF_COOKIE)) if context is not None else None
        with self._guard:
            pending = self._issued[session_id]
            room = max(0, MAX_PENDING - len(pending))
            urls = super().get_upload_urls(session_id, list(file_names)[:room])
            now = time.monotonic()
            for url in urls:
                pending[url.file_id] = (now, token)
        return urls

    def refusal(self, session_id: str, file_id: str, xsrf_cookie: str | None, length: int | None) -> int:
        """0 when a PUT of ``length`` bytes may go ahead; else the HTTP status refusing it (403 or 413)."""
        with self._guard:
            issued = self._issued.get(session_id, {}).get(file_id)
            if issued is None or time.monotonic() - issued[0] > ISSUED_TTL_S:
                return 403  # no uploader of this session asked for it (or long ago)
            if issued[1] is not None and _xsrf_token(xsrf_cookie) != issued[1]:
                return 403  # another browser than the session's, with its own XSRF pair
            if length is not None and self._over_budget(session_id, _peer.get(), length):
                return 413
        return 0

    def _held(self, session_id: str | None = None, address: str | None = None) -> int:
        return sum(
            len(f.data)
            for sid, files in self.file_storage.items()
            if (session_id is None or sid == session_id) and (address is None or self._address.get(sid) == address)
            for f in files.values()
        )

    def _over_budget(self, session_id: str, address: str | None, length: int) -> bool:
        if self._held(session_id=session_id) + length > self.per_session:
            return True
        if address is not None and self._held(address=address) + length > self.per_address:
            return True
        return self._held() + length > self.total

    def add_file(self, session_id: str, file: UploadedFileRec) -> None:
        """Keep an uploaded file, if its session asked for it and it fits (else an HTTP error for the PUT)."""
        from starlette.exceptions import HTTPException

        address = _peer.get()
        with self._guard:
            if file.file_id not in self._issued.get(session_id, {}):
                raise HTTPException(status_code=403, detail="No uploader asked for this file")
            if self._over_budget(session_id, address, len(file.data)):
                raise HTTPException(status_code=413, detail="The server holds too many uploads right now")
            del self._issued[session_id][file.file_id]  # each URL takes one file
            self._address.setdefault(session_id, address)
            super().add_file(session_id, file)
        self.sweep()

    # ------------------------------------------------------------------ what sessions read

    def get_files(self, session_id: str, file_ids: Sequence[str]) -> list[UploadedFileRec]:
        found = super().get_files(session_id, file_ids)
        if len(found) < len(file_ids):
            with self._guard:
                first = session_id not in self._missing
                self._missing.add(session_id)
                slot = self._slots.get(session_id)
            if first and slot is not None:
                # Said now, in the place app.py keeps at the top: the page may stop right after this uploader.
                slot.warning(INTERRUPTED, icon=":material/cloud_off:")
        return found

    def interrupted(self, session_id: str) -> bool:
        """Whether an uploader of this session named a file the server does not hold, since :meth:`begin_run`."""
        with self._guard:
            return session_id in self._missing

    def begin_run(self, session_id: str, slot: Any = None) -> None:
        """A script run of the whole page starts: its uploaders are read again, and a file one of them names that
        the server does not hold is reported in ``slot`` (a Streamlit container)."""
        with self._guard:
            self._missing.discard(session_id)
            if slot is None:
                self._slots.pop(session_id, None)
            else:
                self._slots[session_id] = slot

    # ------------------------------------------------------------------ freeing

    def remove_session_files(self, session_id: str) -> None:
        super().remove_session_files(session_id)
        with self._guard:
            self._issued.pop(session_id, None)
            self._address.pop(session_id, None)
            self._seen.pop(session_id, None)
            self._slots.pop(session_id, None)
            self._missing.discard(session_id)

    def sweep(self, now: float | None = None) -> list[str]:
        """Free the files of sessions not connected for ``disconnected_ttl`` seconds; returns those sessions.

        Called on every upload (at most every :data:`SWEEP_EVERY_S` seconds) and by a timer; ``now`` (a
        ``time.monotonic`` reading) forces a sweep at that time.
        """
        with self._guard:
            if now is None:
                now = time.monotonic()
                if now < self._next_sweep:
                    return []
                self._next_sweep = now + min(SWEEP_EVERY_S, self.disconnected_ttl / 2)
            sessions = set(self.file_storage) | set(self._issued)
        alive = {sid for sid in sessions if self._alive(sid)}
        gone = []
        with self._guard:
            for sid in sessions:
                if sid in alive:
                    self._seen[sid] = now
                elif now - self._seen.setdefault(sid, now) >= self.disconnected_ttl:
                    gone.append(sid)
        for sid in gone:
            self.remove_session_files(sid)
        return gone

    def held_bytes(self) -> int:
        """Bytes of uploaded files held now."""
        with self._guard:
            return self._held()


def current_manager() -> SessionUploads | None:
    """The running server's :class:`SessionUploads`, if it uses one."""
    from streamlit import runtime

    if not runtime.exists():
        return None
    mgr = runtime.get_instance().uploaded_file_mgr
    return mgr if isinstance(mgr, SessionUploads) else None


class UploadGuard:
    """ASGI middleware refusing upload PUTs :class:`SessionUploads` would not take, before their body is read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        facts = request_facts(headers.get(CONTEXT_HEADER))
        token = _peer.set(facts.client if facts else None)
        try:
            match = _UPLOAD_PATH.search(scope.get("path", ""))
            mgr = current_manager() if match and scope.get("method") == "PUT" else None
            if mgr is not None and match is not None:
                xsrf = next(iter(cookie_values(list(headers.items()), XSRF_COOKIE)), None)
                length = headers.get("content-length")
                status = mgr.refusal(match[1], match[2], xsrf, int(length) if length and length.isdigit() else None)
                if status:
                    await send({"type": "http.response.start", "status": status, "headers": []})
                    await send({"type": "http.response.body", "body": b""})
                    return
            await self.app(scope, receive, send)
        finally:
            _peer.reset(token)


def install_upload_manager() -> None:
    """Make the server Streamlit builds use :class:`SessionUploads` (called before the server starts)."""
    from streamlit.web.server import server

    server.MemoryUploadedFileManager = SessionUploads  # type: ignore[misc]


def upload_notice_slot() -> None:
    """Keep a place at the top of the page where an uploader naming a file the server no longer holds is reported
    (``app.py`` calls it before the page runs; see :meth:`SessionUploads.get_files`)."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    mgr = current_manager()
    if ctx is not None and mgr is not None:
        mgr.begin_run(ctx.session_id, st.empty())
