"""Helpers for driving the real app in Chromium with Playwright."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit

from tests.conftest import ARTIFACTS

#: Hosts a page may talk to: the test server only.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

RUNNING = '[data-testid="stStatusWidget"]'


def _not_running(page, timeout_ms: int) -> None:
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !/Running|Stop/i.test(document.querySelector('[data-testid=\"stStatusWidget\"]').innerText)",
        timeout=timeout_ms,
    )


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait until Streamlit has rendered the page and its script has stayed finished for a moment."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_selector("h1", timeout=timeout_ms)
    # A rerun may start just after an idle check (first visits import torch), so require two idle checks in a row.
    for _ in range(2):
        _not_running(page, timeout_ms)
        page.wait_for_timeout(700)
    _not_running(page, timeout_ms)
    # Plotly loads lazily: wait (bounded) until every chart has drawn its SVG.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.querySelector('.main-svg'))",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(300)


def exception_texts(page) -> list[str]:
    """Texts of any Streamlit exception boxes on the page."""
    return [e.inner_text() for e in page.locator('[data-testid="stException"]').all()]


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    # Streamlit scrolls inside its own container, so grow the viewport to the content for a whole-page picture.
    size = page.viewport_size
    height = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], section.main, '
        '[data-testid="stAppViewContainer"]\')].map(e => e.scrollHeight), document.body.scrollHeight)'
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height), size["height"]), 8000)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{slug}.png"), full_page=True)
    page.set_viewport_size(size)


class GuardedBrowser:
    """A Playwright browser whose contexts record console errors, page errors and requests that leave the server.

    ``new_context`` / ``new_page`` work as Playwright's; :meth:`check` fails with everything recorded. A test that
    provokes an error on purpose names it in :meth:`allow` (a regular expression).
    """

    def __init__(self, browser) -> None:
        self._browser = browser
        self._contexts: list = []
        self._allowed: list[re.Pattern[str]] = []
        self.problems: list[str] = []

    def allow(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (never requests off the server)."""
        self._allowed.append(re.compile(pattern))

    def new_context(self, **kwargs):
        ctx = self._browser.new_context(**kwargs)
        self._contexts.append(ctx)
        ctx.on("console", self._on_console)
        ctx.on("weberror", lambda e: self.problems.append(f"page error: {e.error}"))
        ctx.on("request", self._on_request)
        return ctx

    def new_page(self, **kwargs):
        return self.new_context(**kwargs).new_page()

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        text = f"console error: {message.text} ({message.location.get('url', '')})"
        if not any(p.search(text) for p in self._allowed):
            self.problems.append(text)

    def _on_request(self, request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            self.problems.append(f"request off the server: {url}")

    def close(self) -> None:
        for ctx in self._contexts:
            with contextlib.suppress(Exception):  # already closed by the test
                ctx.close()

    def check(self) -> None:
        """Fail with every console error, page error and off-server request recorded so far."""
        assert not self.problems, "\n".join(self.problems)
