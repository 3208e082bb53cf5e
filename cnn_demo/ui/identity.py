"""Who is using the app, for whom jobs are kept, and from which address (for fair shares of the queue).

In order of preference:

1. **Signed in with OpenID Connect** (``st.login``; any provider configured under ``[auth]`` in
   ``.streamlit/secrets.toml``): the owner is the provider's issuer and subject, so a student's jobs follow
   them to every browser and device.
2. **Signed in at an authenticating reverse proxy** that puts the user into a request header named by
   ``CNN_DEMO_TRUSTED_USER_HEADER`` (nginx example in ``docs/SCALE_OUT.md``); believed only on connections from
   ``CNN_DEMO_TRUSTED_PROXIES`` (:mod:`cnn_demo.ui.gatekeeper`).
3. **This browser** (the default): a random id signed by the server, kept in an *HttpOnly* cookie
   (:data:`BROWSER_COOKIE`) that :class:`~cnn_demo.ui.gatekeeper.IdentityMiddleware` sets on the first page load.
   Scripts in the page cannot read it; values the server did not sign are replaced, never adopted. Other browsers
   and devices open a job with the job's recovery code (``cnn_demo.jobs.claim``).
4. **This tab**, when there is no such cookie (cookies off, or the app started with plain ``streamlit run``
   instead of ``python -m cnn_demo serve``): jobs are found again only through their recovery code.

The client address comes from the same middleware: the connection's peer (loopback too), or what a trusted proxy
says. Where it is unknown (plain ``streamlit run``), every such client shares one address's share.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import streamlit as st

from cnn_demo.ui.gatekeeper import (
    BROWSER_COOKIE,
    CONTEXT_HEADER,
    IdentityMiddleware,
    RequestFacts,
    install_middleware,
    set_cookie_header,
)
from cnn_demo.ui.gatekeeper import request_facts as _facts
from cnn_demo.ui.signin import login_provider, sign_in_problem

#: The middleware's former name.
BrowserCookieMiddleware = IdentityMiddleware
__all__ = [
    "BROWSER_COOKIE",
    "BrowserCookieMiddleware",
    "Identity",
    "auth_configured",
    "browser_secret",
    "client_address",
    "current_identity",
    "install_browser_cookie",
    "login_provider",
    "request_facts",
    "set_cookie_header",
    "sign_in_problem",
]


@dataclass(frozen=True)
class Identity:
    """The owner id jobs are stored under, what kind of identity it is, and how to describe it to the user."""

    owner: str
    kind: str  # "user" (OIDC), "proxy" (trusted header), "browser" (HttpOnly cookie) or "tab" (this session only)
    name: str | None = None


def _digest(prefix: str, value: str) -> str:
    return hashlib.sha256(f"cnn-demo-{prefix}:{value}".encode()).hexdigest()[:32]


def auth_configured() -> bool:
    """Whether ``st.login`` is set up: an ``[auth]`` section in the secrets with every key it needs (an incomplete one
    offers no *Sign in*; ``serve`` tells the operator what it lacks)."""
    try:
        return "is_logged_in" in st.user and sign_in_problem() is None
    except Exception:
        return False


def request_facts() -> RequestFacts | None:
    """What :class:`~cnn_demo.ui.gatekeeper.IdentityMiddleware` established about this session's connection;
    ``None`` without it (plain ``streamlit run``, AppTest) or when the header was not signed by this server."""
    try:
        value = st.context.headers.get(CONTEXT_HEADER)
    except Exception:
        return None
    return _facts(value)


def browser_secret() -> str | None:
    """This browser's identity: the id in its server-signed HttpOnly cookie, if it has one."""
    facts = request_facts()
    return facts.browser if facts else None


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
    facts = request_facts()
    if facts and facts.user:
        return Identity(_digest("proxy", facts.user), "proxy", facts.user)
    secret = browser_secret()
    if secret:
        return Identity(_digest("browser", secret), "browser")
    if "jobs_owner" not in st.session_state:
        st.session_state["jobs_owner"] = "session-" + secrets.token_hex(16)
    return Identity(st.session_state["jobs_owner"], "tab")


def client_address() -> str | None:
    """The client's IP address: the connection's peer (loopback too), or what a trusted proxy says it is
    (:mod:`cnn_demo.ui.gatekeeper`); without the middleware, Streamlit's (``None`` for loopback)."""
    facts = request_facts()
    if facts:
        return facts.client
    try:
        return st.context.ip_address
    except Exception:
        return None


def install_browser_cookie() -> None:
    """Install the identity middleware in the web server Streamlit builds (``cnn_demo.ui.launch`` calls it)."""
    install_middleware()
