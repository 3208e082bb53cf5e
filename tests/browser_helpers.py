"""Helpers for driving the real app in Chromium with Playwright."""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import re
from urllib.parse import urlsplit

from tests.conftest import ARTIFACTS

#: Hosts a page may talk to: the test server only.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

RUNNING = '[data-testid="stStatusWidget"]'


#: How long the script must have stayed finished, without a break, before the page counts as idle: longer than a
#: slider's debounce (200 ms) and than the moment between a click and the rerun it asks for.
QUIET_MS = 700

# True once no script has run for ``quiet`` ms: the app's own script state (set the moment the browser asks for a
# rerun, unlike the status widget, which shows "Running" only after a delay) and the status widget both say that
# none runs. Sampled every 50 ms: a rerun that starts inside the window restarts it, and so does a gap of over
# 200 ms between two samples (the page's main thread was busy, so a slider's pending commit may not have run yet).
_QUIET_FOR = """([quiet, call]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const idle = app?.dataset.testScriptState === 'notRunning' && (!status || !/Running|Stop/i.test(status.innerText));
  const now = performance.now();
  const q = window.__cnnQuiet;
  if (!idle || q?.call !== call || now - q.last > 200) window.__cnnQuiet = {call, since: now, last: now};
  else q.last = now;
  return idle && now - window.__cnnQuiet.since >= quiet;
}"""
_CALLS = itertools.count()
_DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]')
  && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'))
  && [...document.images].every(i => i.complete)"""
# Two animation frames (the browser has laid out and painted), or 200 ms where it draws no frames (a hidden tab).
_PAINTED = (
    "() => new Promise(r => { const t = setTimeout(r, 200);"
    " requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(t); r(true); })); })"
)


def wait_idle(page, timeout_ms: int = 90_000) -> None:
    """Wait until Streamlit has rendered the page and its script has stayed finished for a moment (``QUIET_MS``)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_selector("h1", timeout=timeout_ms)
    # A rerun may start just after an idle moment (a click's rerun request, a slider's debounce, first visits import
    # torch): the quiet window starts now and restarts whenever a script runs inside it.
    page.wait_for_function(_QUIET_FOR, arg=[QUIET_MS, next(_CALLS)], timeout=timeout_ms, polling=50)
    # Elements whose code loads lazily (charts, download buttons) show a skeleton until it has come, plotly draws
    # its SVG later still, and images come by their own requests: wait (bounded) until all are there, then for the
    # browser to paint them.
    page.wait_for_function(_DRAWN, timeout=timeout_ms)
    page.evaluate(_PAINTED)


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
    page.evaluate(_PAINTED)  # laid out and painted at the new size
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
        self._local: list[tuple[str, str]] = []
        self.problems: list[str] = []

    def allow(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (never requests off the server)."""
        self._allowed.append(re.compile(pattern))

    def serve_locally(self, url_glob: str, content_type: str = "text/css") -> None:
        """Answer requests for ``url_glob`` with an empty file inside the browser, in contexts made from now on.

        For third-party pages a test drives (a local sign-in provider's login form linking a CDN stylesheet):
        nothing leaves the machine and the guard does not count them. Never for the app's own pages.
        """
        self._local.append((url_glob, content_type))

    def new_context(self, **kwargs):
        ctx = self._browser.new_context(**kwargs)
        for url_glob, content_type in self._local:
            ctx.route(url_glob, lambda route, t=content_type: route.fulfill(status=200, content_type=t, body=""))
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
        if urlsplit(url).hostname not in LOCAL_HOSTS and not any(fnmatch.fnmatch(url, g) for g, _ in self._local):
            self.problems.append(f"request off the server: {url}")

    def close(self) -> None:
        for ctx in self._contexts:
            with contextlib.suppress(Exception):  # already closed by the test
                ctx.close()

    def check(self) -> None:
        """Fail with every console error, page error and off-server request recorded so far."""
        assert not self.problems, "\n".join(self.problems)


# ------------------------------------------------------------------------------------- interaction latency

_RENDERED = (
    "() => !document.querySelector('[data-stale=\"true\"]')"
    " && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')].every(c => c.querySelector('.main-svg'))"
)
_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


class RerunWatch:
    """Counts the script runs the server reports finished, read from the app's websocket (``ForwardMsg``)."""

    def __init__(self, page) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self._back = BackMsg
        self.finished = 0
        self.fragment_runs = 0  # of those, runs of one st.fragment only (not the whole page)
        self.requested = 0  # reruns the browser asked for (sent the moment a widget changes)
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        ws.on("framereceived", self._frame)
        ws.on("framesent", self._sent)

    def _sent(self, payload) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        msg = self._back()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # not a BackMsg: ignore it
            return
        self.requested += msg.WhichOneof("type") == "rerun_script"

    def _frame(self, payload) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        msg = self._msg()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # not a ForwardMsg: ignore it
            return
        done = self._msg.ScriptFinishedStatus
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished in (
            done.FINISHED_SUCCESSFULLY,
            done.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
        ):
            self.finished += 1
            self.fragment_runs += msg.script_finished == done.FINISHED_FRAGMENT_RUN_SUCCESSFULLY


def timed_interaction(page, watch: RerunWatch, action, timeout_s: float = 60.0) -> float:
    """Seconds from ``action()`` (a widget change) until its rerun has finished and the page has drawn it.

    "Drawn": the server sent ``script_finished``, no element is stale any more, every plotly chart has its SVG,
    and the browser has painted two more frames (so the main thread is done with the new figures).
    """
    import time

    before = watch.finished
    t0 = time.perf_counter()
    action()
    deadline = t0 + timeout_s
    while watch.finished == before:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no rerun finished within {timeout_s:.0f} s of the interaction")
        page.wait_for_timeout(10)
    page.wait_for_function(_RENDERED, timeout=timeout_s * 1000, polling="raf")
    page.evaluate(_TWO_FRAMES)
    return time.perf_counter() - t0


def widget(page, kind: str, label: str, nth: int = 0):
    """The ``nth`` Streamlit widget of ``kind`` (``stSlider``, ``stSelectbox``, ...) whose label is ``label``."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return (
        page.locator(f'[data-testid="stMain"] [data-testid="{kind}"]')
        .filter(has=page.locator('[data-testid="stWidgetLabel"]', has_text=exact))
        .nth(nth)
    )


#: Clicks on a select box that did not open its list (each cost a wait of up to 5 s); benchmarks report it.
SELECT_RETRIES = [0]


def open_list(page, box, first_option) -> None:
    """Click the select box ``box`` and wait until ``first_option`` (a locator in its list) is shown.

    The box is scrolled into view first and the browser given two frames: Playwright's click scrolls a box below
    the fold into view itself, and Streamlit's select box closes its list on the scroll event that arrives just
    after the click has opened it (a 5 s wait, then a second click). A user scrolls before clicking.
    """
    box.scroll_into_view_if_needed()
    page.evaluate(_TWO_FRAMES)
    for attempt in range(3):  # a click during a redraw can be lost: open the list again
        box.click()
        try:
            first_option.wait_for(timeout=5_000)
            return
        except Exception:
            SELECT_RETRIES[0] += 1
            if attempt == 2:
                raise


def choose(page, label: str, option: str, nth: int = 0) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    box = widget(page, "stSelectbox", label, nth).locator('[role="combobox"]').first
    wanted = page.get_by_role("option", name=option, exact=True).first
    open_list(page, box, wanted)
    wanted.click()
