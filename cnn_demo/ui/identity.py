"""Who is using the app, for whom jobs are kept, and from which address (for fair shares of the queue).

In order of preference:

1. **Signed in with OpenID Connect** (``st.login``; any provider configured under ``[auth]`` in
   ``.streamlit/secrets.toml``): the owner is the provider's issuer and subject, so a student's jobs follow
   them to every browser and device.
2. **Signed in at an authenticating reverse proxy** that puts the user into a request header named by
   ``CNN_DEMO_TRUSTED_USER_HEADER`` (nginx example in ``docs/SCALE_OUT.md``); only honoured when that is set.
3. **This browser** (the default): a random secret kept in an *HttpOnly* cookie (:data:`BROWSER_COOKIE`) that
   :class:`BrowserCookieMiddleware` sets on the first page load. Scripts in the page cannot read it (unlike
   Streamlit's XSRF cookie, which the page's own JavaScript must read); the server only keeps its hash. Other
   browsers and devices open a job with the job's recovery code (``cnn_demo.jobs.claim``).
4. **This tab**, when there is no such cookie (cookies off, or the app started with plain ``streamlit run``
   instead of ``python -m cnn_demo serve``): jobs are found again only through their recovery code.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from cnn_demo.settings import get_settings

BROWSER_COOKIE = "cnn_demo_browser"
_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
_STATIC_PREFIXES = ("/_stcore/", "/static/", "/media/", "/component/", "/app/static/", "/favicon")


@dataclass(frozen=True)
class Identity:
    """The owner id jobs are stored under, what kind of identity it is, and how to describe it to the user."""

    owner: str
    kind: str  # "user" (OIDC), "proxy" (trusted header), "browser" (HttpOnly cookie) or "tab" (this session only)
    name: str | None = None


def _digest(prefix: str, value: str) -> str:
    return hashlib.sha256(f"cnn-demo-{prefix}:{value}".encode()).hexdigest()[:32]


def auth_configured() -> bool:
    """Whether ``st.login`` is set up (an ``[auth]`` section in the secrets)."""
    try:
        return "is_logged_in" in st.user
    except Exception:
        return False


def login_provider() -> str | None:
    """The provider ``st.login`` should use: ``None`` for a single unnamed one, else the first named one."""
    from streamlit.auth_util import get_secrets_auth_section

    auth: Mapping[str, Any] = get_secrets_auth_section()
    if "client_id" in auth:
        return None
    named = [k for k, v in auth.items() if isinstance(v, Mapping)]
    return named[0] if named else None


def _header(name: str) -> str | None:
    try:
        value = st.context.headers.get(name)
    except Exception:
        return None
    return value.strip() if value and value.strip() else None


def browser_secret() -> str | None:
    """The value of this browser's HttpOnly identity cookie, if the server set one."""
    try:
        value = st.context.cookies.get(BROWSER_COOKIE)
    except Exception:
        return None
    return value if value and len(value) >= 32 else None


def current_identity() -> Identity:
    """The identity jobs are kept under for this session (see the module docstring for the order)."""
    try:
        if st.user.get("is_logged_in"):
            subject = st.user.get("sub") or st.user.get("email")
            if subject:
                name = st.user.get("name") or st.user.get("email") or str(subject)
                return Identity(_digest("oidc", f"{st.user.get('iss', '')}|{subject}"), "user", str(name))
    except Exception:
        pass
    header = get_settings().trusted_user_header
    if header:
        user = _header(header)
        if user:
            return Identity(_digest("proxy", user), "proxy", user)
    secret = browser_secret()
    if secret:
        return Identity(_digest("browser", secret), "browser")
    if "jobs_owner" not in st.session_state:
        st.session_state["jobs_owner"] = "session-" + secrets.token_hex(16)
    return Identity(st.session_state["jobs_owner"], "tab")


def client_address() -> str | None:
    """The client's IP address: from ``CNN_DEMO_TRUSTED_ADDRESS_HEADER`` when set (a proxy), else the peer's."""
    header = get_settings().trusted_address_header
    if header:
        value = _header(header)
        if value:
            return value.split(",")[-1].strip()  # X-Forwarded-For: the entry the proxy itself added
        return None
    try:
        return st.context.ip_address
    except Exception:
        return None


class BrowserCookieMiddleware:
    """ASGI middleware giving each browser a random, HttpOnly identity cookie on its first page load.

    Only page (HTML document) requests get it, so the assets a page loads in parallel cannot race each other with
    different values; the websocket the page then opens carries it, where :func:`browser_secret` reads it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or not _wants_cookie(scope):
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def send_with_cookie(message: dict) -> None:
            if message.get("type") == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", set_cookie_header(secrets.token_urlsafe(32), secure).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _wants_cookie(scope: dict) -> bool:
    path = scope.get("path", "")
    if any(path.startswith(p) for p in _STATIC_PREFIXES) or "." in path.rsplit("/", 1)[-1]:
        return False
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    if "text/html" not in headers.get("accept", ""):
        return False
    return f"{BROWSER_COOKIE}=" not in headers.get("cookie", "")


def set_cookie_header(value: str, secure: bool) -> str:
    """The ``Set-Cookie`` value: HttpOnly (no page script reads it), SameSite=Lax, for the whole site."""
    cookie = f"{BROWSER_COOKIE}={value}; Path=/; Max-Age={_COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax"
    return cookie + "; Secure" if secure else cookie


def install_browser_cookie() -> None:
    """Add :class:`BrowserCookieMiddleware` to the web server Streamlit builds (``cnn_demo.ui.launch`` calls it).

    ``streamlit run`` offers no middleware hook of its own (``st.App(middleware=...)`` does, for ASGI hosting), so
    the function that lists Streamlit's middleware is wrapped before the server starts.
    """
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    original = starlette_app.create_streamlit_middleware
    if getattr(original, "_cnn_demo", False):
        return

    def with_browser_cookie() -> list:
        return [Middleware(BrowserCookieMiddleware), *original()]

    with_browser_cookie._cnn_demo = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = with_browser_cookie
