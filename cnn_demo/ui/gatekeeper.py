"""The web server's front door (ASGI middleware): who is connecting, from where, with which browser identity.

Every request and websocket passes :class:`IdentityMiddleware` before Streamlit sees it. It alone decides, from the
connection itself:

- **the peer**: the address the connection comes from (``scope["client"]``), loopback included (Streamlit's
  ``st.context.ip_address`` hides 127.0.0.1 and ::1, which would turn every per-address limit off behind a proxy on
  the same machine);
- **the client address and the signed-in user** from a reverse proxy's headers, believed only when the peer is one
  of ``CNN_DEMO_TRUSTED_PROXIES`` (and sends ``CNN_DEMO_PROXY_SECRET`` when that is set); from anyone else those
  headers are removed before Streamlit sees them;
- **the browser identity**: a cookie whose value this server signed (:mod:`cnn_demo.jobs.keys`). A value it did not
  sign (guessed, short, tossed in by another site, two values at once) is never adopted: the page request that
  brings it gets a new signed cookie instead. Under HTTPS the cookie is ``__Host-cnn_demo_browser`` (Secure, host
  only, path /), which plain-HTTP services on the same host name can neither read nor overwrite.

What it found travels to the page in one request header (:data:`CONTEXT_HEADER`), signed with the server key, so a
client cannot send its own (:func:`request_facts`).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from cnn_demo.jobs import keys
from cnn_demo.settings import Settings, get_settings

BROWSER_COOKIE = "cnn_demo_browser"
#: The cookie's name under HTTPS: browsers accept it only from a secure origin, Secure, host-only, path /.
SECURE_BROWSER_COOKIE = "__Host-" + BROWSER_COOKIE
CONTEXT_HEADER = "x-cnn-demo-context"
PROXY_SECRET_HEADER = "x-cnn-demo-proxy"
_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
_STATIC_PREFIXES = ("/_stcore/", "/static/", "/media/", "/component/", "/app/static/", "/favicon")
_BROWSER_PURPOSE = "browser-cookie"
_CONTEXT_PURPOSE = "request-context"


@dataclass(frozen=True)
class RequestFacts:
    """What the middleware established about one connection."""

    peer: str | None  # the direct peer's address
    client: str | None  # the client's address (the peer, or what a trusted proxy says)
    user: str | None  # the user a trusted proxy signed in
    browser: str | None  # the browser id from a cookie this server signed
    secure: bool  # HTTPS (directly, or at a trusted proxy)


def _headers(scope: dict) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]


def cookie_values(headers: list[tuple[str, str]], name: str) -> list[str]:
    """Every value the browser sent for cookie ``name`` (several when other sites set it with other paths)."""
    out = []
    for key, value in headers:
        if key != "cookie":
            continue
        for part in value.split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                out.append(v.strip().strip('"'))
    return out


def _in(address: str | None, networks: tuple[str, ...]) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n) for n in networks)


def _proxy_trusted(peer: str | None, headers: dict[str, str], s: Settings) -> bool:
    if not _in(peer, s.trusted_proxies):
        return False
    if s.proxy_secret is None:
        return True
    return secrets.compare_digest(headers.get(PROXY_SECRET_HEADER, "").encode(), s.proxy_secret.encode())


def _address(value: str | None) -> str | None:
    """A header's client address (for ``X-Forwarded-For``, the last entry: the one the proxy itself added)."""
    if not value:
        return None
    last = value.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return None


def browser_cookie_value(s: Settings) -> str:
    """A new browser identity: a random id with this server's signature."""
    return keys.sign(s, _BROWSER_PURPOSE, secrets.token_urlsafe(24))


def examine(scope: dict, s: Settings) -> tuple[RequestFacts, list[tuple[bytes, bytes]], bool]:
    """The facts of one connection, the headers to pass on, and whether its browser needs a new cookie."""
    headers = _headers(scope)
    flat = dict(headers)
    client = scope.get("client")
    peer = str(client[0]) if client else None
    trusted = _proxy_trusted(peer, flat, s)
    # What only the middleware and a trusted proxy may say is removed from everything else.
    drop = {CONTEXT_HEADER, PROXY_SECRET_HEADER}
    if not trusted:
        drop |= {h.lower() for h in (s.trusted_user_header, s.trusted_address_header) if h}
        drop |= {"x-forwarded-proto"}
    kept = [(k, v) for k, v in headers if k not in drop]
    user = flat.get(s.trusted_user_header.lower(), "").strip() or None if trusted and s.trusted_user_header else None
    address = _address(flat.get(s.trusted_address_header.lower())) if trusted and s.trusted_address_header else None
    scheme = scope.get("scheme", "http")
    secure = scheme in ("https", "wss") or (trusted and flat.get("x-forwarded-proto", "").strip().lower() == "https")
    sent = cookie_values(headers, SECURE_BROWSER_COOKIE if secure else BROWSER_COOKIE)
    valid = {v for v in (keys.verify(s, _BROWSER_PURPOSE, c) for c in sent) if v}
    browser = next(iter(valid)) if len(valid) == 1 and len(set(sent)) == 1 else None
    facts = RequestFacts(peer=peer, client=address or peer, user=user, browser=browser, secure=secure)
    payload = base64.urlsafe_b64encode(json.dumps(asdict(facts)).encode()).decode()
    kept.append((CONTEXT_HEADER, keys.sign(s, _CONTEXT_PURPOSE, payload)))
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept]
    return facts, encoded, browser is None


def request_facts(header_value: str | None, s: Settings | None = None) -> RequestFacts | None:
    """The facts the middleware put into :data:`CONTEXT_HEADER`; ``None`` when absent or not signed by it."""
    if not header_value:
        return None
    payload = keys.verify(s or get_settings(), _CONTEXT_PURPOSE, header_value)
    if payload is None:
        return None
    try:
        return RequestFacts(**json.loads(base64.urlsafe_b64decode(payload)))
    except (ValueError, TypeError):
        return None


def set_cookie_header(value: str, secure: bool) -> str:
    """The ``Set-Cookie`` value: HttpOnly (no page script reads it), SameSite=Lax, for the whole site; under HTTPS
    the ``__Host-`` name and Secure."""
    name = SECURE_BROWSER_COOKIE if secure else BROWSER_COOKIE
    cookie = f"{name}={value}; Path=/; Max-Age={_COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax"
    return cookie + "; Secure" if secure else cookie


def _is_page(scope: dict, headers: list[tuple[bytes, bytes]]) -> bool:
    """A GET of an HTML document (not an asset, not the websocket): where the cookie is set."""
    if scope.get("type") != "http" or scope.get("method") != "GET":
        return False
    path = scope.get("path", "")
    if any(path.startswith(p) for p in _STATIC_PREFIXES) or "." in path.rsplit("/", 1)[-1]:
        return False
    accept = next((v.decode("latin-1") for k, v in headers if k == b"accept"), "")
    return "text/html" in accept


class IdentityMiddleware:
    """ASGI middleware establishing :class:`RequestFacts` for every request and websocket (see the module)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        s = get_settings()
        facts, headers, needs_cookie = examine(scope, s)
        scope = {**scope, "headers": headers}
        if not (needs_cookie and _is_page(scope, headers)):
            await self.app(scope, receive, send)
            return
        cookie = set_cookie_header(browser_cookie_value(s), facts.secure).encode()

        async def send_with_cookie(message: dict) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def install_middleware(*more: Any) -> None:
    """Put :class:`IdentityMiddleware` first in the middleware Streamlit's server builds (``cnn_demo.ui.launch``),
    followed by the ASGI middleware classes ``more``.

    ``streamlit run`` offers no middleware hook of its own (``st.App(middleware=...)`` does, for ASGI hosting), so
    the function that lists Streamlit's middleware is wrapped before the server starts.
    """
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette import starlette_app

    original = starlette_app.create_streamlit_middleware
    if getattr(original, "_cnn_demo", False):
        return

    def with_identity() -> list:
        return [Middleware(IdentityMiddleware), *(Middleware(m) for m in more), *original()]

    with_identity._cnn_demo = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = with_identity
