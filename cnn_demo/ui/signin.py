"""Sign-in with ``st.login`` that fails with a sentence, not an error box or a bare error page.

Two ways it used to fail: an ``[auth]`` section in ``.streamlit/secrets.toml`` that lacks keys (only ``redirect_uri``)
made *Sign in* raise Streamlit's redacted error box; a provider that does not answer left the student on a page that
says only "Authentication error". Now an incomplete section offers no *Sign in* at all (``serve`` names the missing
keys for the operator: :func:`sign_in_problem`), the provider is asked before the student is sent to it
(:func:`provider_reachable`), and should the sign-in still fail, :class:`SignInErrors` brings the student back to
the app with a message (:data:`SIGNIN_FAILED`).
"""

from __future__ import annotations

import time
import tomllib
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

SIGNIN_UNAVAILABLE = (
    "Sign-in is not available right now: the school's sign-in service does not answer. Your jobs are kept for this "
    "browser meanwhile; try signing in again later."
)
SIGNIN_FAILED = (
    "Signing in did not work (the sign-in service did not answer or refused). Your jobs are kept for this browser "
    "meanwhile; try again later."
)
_REACHABLE_FOR_S = 60.0
_checked: dict[str, tuple[float, bool]] = {}


def _auth_section() -> Mapping[str, Any]:
    try:
        from streamlit.auth_util import get_secrets_auth_section

        return get_secrets_auth_section() or {}
    except Exception:  # no secrets at all
        return {}


def login_provider() -> str | None:
    """The provider ``st.login`` should use: ``None`` for a single unnamed one, else the first named one."""
    auth = _auth_section()
    if "client_id" in auth:
        return None
    named = [k for k, v in auth.items() if isinstance(v, Mapping)]
    return named[0] if named else None


def secrets_auth_section(folders: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The ``[auth]`` section of the ``.streamlit/secrets.toml`` files in ``folders`` (default: the home and the
    working folder, where ``streamlit run`` reads them), read without starting Streamlit's configuration."""
    merged: dict[str, Any] = {}
    for folder in folders or (Path.home(), Path.cwd()):
        try:
            with open(folder / ".streamlit" / "secrets.toml", "rb") as f:
                section = tomllib.load(f).get("auth")
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if isinstance(section, dict):
            merged.update(section)
    return merged


def sign_in_problem(auth: Mapping[str, Any] | None = None) -> str | None:
    """What the ``[auth]`` section (default: Streamlit's secrets) lacks, for the operator; ``None`` when there is no
    section or it has what ``st.login`` needs."""
    auth = _auth_section() if auth is None else auth
    if not auth:
        return None
    missing = [k for k in ("redirect_uri", "cookie_secret") if not auth.get(k)]
    named = [k for k, v in auth.items() if isinstance(v, Mapping)]
    provider = auth if "client_id" in auth or not named else auth[named[0]]
    where = "[auth]" if provider is auth else f"[auth.{named[0]}]"
    missing += [f"{where} {k}" for k in ("client_id", "client_secret", "server_metadata_url") if not provider.get(k)]
    if missing:
        return "the [auth] section of .streamlit/secrets.toml lacks " + ", ".join(missing) + " (docs/SCALE_OUT.md)."
    return None


def _metadata_url() -> str | None:
    auth = _auth_section()
    provider = login_provider()
    section = auth if provider is None else auth.get(provider, {})
    url = section.get("server_metadata_url") if isinstance(section, Mapping) else None
    return str(url) if url else None


def provider_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the sign-in provider answers (its OpenID configuration); an answer is remembered for a minute."""
    url = _metadata_url()
    if not url:
        return False
    now = time.monotonic()
    seen = _checked.get(url)
    if seen and now - seen[0] < _REACHABLE_FOR_S:
        return seen[1]
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            ok = 200 <= response.status < 300
    except Exception:
        ok = False
    if ok:  # a failure is asked again at the next click: the service may be back
        _checked[url] = (now, ok)
    return ok


def _back_to(scope: dict, base: str) -> str:
    """Where a failed sign-in returns: the app's page the student came from (its Referer, on this host), else the
    app's start, with ``signin=failed`` for :func:`signin_notice`."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    page = base + "/"
    referer = urlsplit(headers.get("referer", ""))
    if referer.netloc and referer.netloc == headers.get("host") and referer.path.startswith(base + "/"):
        kept = [(k, v) for k, v in parse_qsl(referer.query) if k != "signin"]
        page = referer.path + ("?" + urlencode(kept) if kept else "")
    return page + ("&" if "?" in page else "?") + "signin=failed"


def signin_notice() -> None:
    """Explain a sign-in that failed (``?signin=failed``, from :class:`SignInErrors`) at the top of any page."""
    import streamlit as st

    if st.query_params.get("signin") == "failed":
        st.warning(SIGNIN_FAILED, icon=":material/person_off:")
        del st.query_params["signin"]


def _sets_user(set_cookie: bytes) -> bool:
    """Whether a ``Set-Cookie`` value gives the browser Streamlit's signed-in user (not one clearing it)."""
    name, _, rest = set_cookie.partition(b"=")
    return (
        name.startswith(b"_streamlit_user")
        and not rest.startswith((b";", b'""'))
        and b"max-age=0" not in (set_cookie.lower())
    )


class SignInErrors:
    """ASGI middleware: a sign-in that fails at Streamlit's ``/auth/login`` (a bare "Authentication error" page) or
    comes back from the provider without a signed-in user returns the student to the app with ``?signin=failed``,
    where the job panel explains it (:data:`SIGNIN_FAILED`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        ending = next((e for e in ("/auth/login", "/oauth2callback") if path.endswith(e)), None)
        if ending is None:
            await self.app(scope, receive, send)
            return
        back = _back_to(scope, path[: -len(ending)] or "")
        query = scope.get("query_string", b"")
        # The callback also brings the browser back after a sign-out (no code, no error): that is no failure.
        answered = any(part.split(b"=")[0] in (b"code", b"error") for part in query.split(b"&"))
        state: dict[str, Any] = {"replaced": False}

        async def checked(message: dict) -> None:
            if message.get("type") == "http.response.start":
                headers = message.get("headers", [])
                signed_in = any(k == b"set-cookie" and _sets_user(v) for k, v in headers)
                location = dict(headers).get(b"location", b"")
                failed = message.get("status") == 400 or (
                    ending == "/oauth2callback" and answered and not signed_in and message.get("status") == 302
                )
                if failed and b"signin=" not in location:
                    state["replaced"] = True
                    kept = [(k, v) for k, v in headers if k == b"set-cookie"]  # cookies it clears stay cleared
                    message = {
                        "type": "http.response.start",
                        "status": 302,
                        "headers": [*kept, (b"location", back.encode()), (b"content-length", b"0")],
                    }
            elif message.get("type") == "http.response.body" and state["replaced"]:
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send(message)

        await self.app(scope, receive, checked)
