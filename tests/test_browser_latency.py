"""Interaction latency in a real browser: the 2-D filtering interactions that used to be slow answer fast.

Issue #15 measured Sobel magnitude at 2.7 s, a colour upload at 3.9 s and border mode wrap at 2.2 s from the change
to the redrawn page on 2 cores; the target is under 1 s. Each is timed three times on values not seen before (so
no cache hides the work) and the median must stay under a bound with room for a slow CI machine that still fails
the old behaviour. ``bench/interactions.py`` times every widget of the Signals, Images and Building-blocks pages.
"""

import pytest

from bench.interactions import scenarios
from tests.browser_helpers import RerunWatch, exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser

#: Median seconds from the change to the redrawn page, per interaction (issue #15: before 2.7, 2.2 and 3.9 s).
BOUNDS = {"Filter → Sobel magnitude": 1.8, "Border mode → wrap": 1.6, "colour upload (900×700 PNG)": 2.4}


def test_the_slow_filtering_interactions_answer_fast(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    watch = RerunWatch(page)
    page.goto(app_server)  # app.py once: the first visit pays for the imports, not the interactions
    wait_idle(page)
    rows = scenarios(page, watch, app_server, repeat=3)
    screenshot(page, "latency-colour-upload")
    assert not exception_texts(page)
    assert not js_errors, js_errors
    measured = {name: seconds for _, name, seconds, _cpu in rows}
    assert set(measured) == set(BOUNDS)
    slow = {name: round(s, 2) for name, s in measured.items() if s > BOUNDS[name]}
    assert not slow, f"median latency over the bound: {slow} (bounds {BOUNDS})"
    ctx.close()
