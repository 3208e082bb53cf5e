"""Interaction latency in a real browser: the 2-D filtering interactions that used to be slow answer fast.

Issue #15 measured Sobel magnitude at 2.7 s, a colour upload at 3.9 s and border mode wrap at 2.2 s from the change
to the redrawn page on 2 cores; the target is under 1 s. Each is timed three times on values not seen before (so
no cache hides the work). The bound is on the median CPU seconds the server and the browser spend on it, which a
busy machine does not stretch (on an idle 2-core machine the latency is at most about that). Before the lazy tabs
these were 3.2-3.9 s (Sobel), 1.8-2.0 s (wrap) and 1.9 s (upload) of CPU; with them 0.8, 0.6 and 0.6 s, and 0.6 s
latency or less on a quiet machine (docs/LATENCY.md). The bounds leave room for a loaded CI machine and still fail
the old page. ``bench/interactions.py`` times every widget of the Signals, Images and Building-blocks pages.
"""

import pytest

from bench.interactions import scenarios
from tests.browser_helpers import RerunWatch, exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser

#: Median CPU seconds of server + browser per interaction (each fails the page before its sections became lazy tabs).
BOUNDS = {
    "Filter → Sobel magnitude": 1.6,
    "Border mode → wrap": 1.2,
    "Border modes tab: Filter → Sobel magnitude": 1.6,
    "colour upload (900×700 PNG)": 1.4,
}


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
    cpu = {name: seconds for _, name, _wall, seconds in rows}
    wall = {name: round(seconds, 2) for _, name, seconds, _cpu in rows}
    assert set(cpu) == set(BOUNDS)
    slow = {name: round(s, 2) for name, s in cpu.items() if s > BOUNDS[name]}
    assert not slow, f"median CPU seconds over the bound: {slow} (bounds {BOUNDS}; wall-clock {wall})"
    ctx.close()


#: (page, lazy tab to open first or None, widget kind, label): widgets that change one section only, so they must
#: rerun only that section's st.fragment (the server runs a part of the script, the browser redraws that section's
#: charts, not the page's).
SECTION_WIDGETS = [
    ("signals_convolution", None, "stSlider", "t of the sum written out below"),
    ("signals_convolution", "Output length", "stRadio", "Mode"),
    ("signals_convolution", "Convolve again", "stCheckbox", "Convolve the result with g once more"),
    ("signals_gaussian", None, "stSlider", "Noise level"),
    ("signals_gaussian", None, "stSelectbox", "Boundary mode"),
    ("pooling", None, "stCheckbox", "ceil_mode"),
    ("pooling", None, "stRadio", "Pooling"),
]


def test_section_widgets_rerun_only_their_fragment(app_server, browser):
    from bench.interactions import change
    from tests.browser_helpers import timed_interaction, widget

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    watch = RerunWatch(page)
    whole_page = []
    for url in dict.fromkeys(p for p, _, _, _ in SECTION_WIDGETS):
        page.goto(f"{app_server}/{url}")
        wait_idle(page)
        for _, tab, kind, label in (w for w in SECTION_WIDGETS if w[0] == url):
            if tab is not None:
                page.locator('[data-testid="stMain"] [role="tab"]', has_text=tab).first.click()
                widget(page, kind, label).first.wait_for()
                wait_idle(page)
            assert widget(page, kind, label).count(), (url, label)
            for act in change(page, kind, label, 0):
                before = watch.fragment_runs
                timed_interaction(page, watch, act)
                wait_idle(page)
                if watch.fragment_runs == before:
                    whole_page.append((url, label))
        assert not exception_texts(page), url
    screenshot(page, "fragments-pooling")
    assert not whole_page, f"these widgets reran the whole page: {whole_page}"
    ctx.close()
