"""The interaction benchmark opens a select box's list with one click, wherever the box sits on the page.

Under a class's load (docs/LATENCY.md) three select boxes took about 3 s with 0.5-0.7 CPU s: Gaussian *Boundary
mode*, Images as numbers *Model*, 2-D filtering *Border mode*. Each sits below the fold of a 1400×1000 window.
Playwright's click scrolls such a box into view and clicks; Streamlit's select box opens its list and then closes
it on the scroll event that arrives a moment later, so the bench waited 5 s for the list and clicked again. With one
change each way (the load run) the median of 5.5 s and 0.5 s is the 3 s seen; with ``--repeat 3`` on a quiet
machine the median of six hid it. A student scrolls before clicking: it was the bench, not the app.
"""

import pytest

from tests.browser_helpers import RerunWatch, exception_texts, screenshot, timed_interaction, wait_idle, widget

pytestmark = pytest.mark.browser

#: (page, select box label): the three boxes below the fold, and one in view.
BOXES = [
    ("signals_gaussian", "Boundary mode"),
    ("pixels", "Model"),
    ("images_filtering", "Border mode"),
    ("images_filtering", "Filter"),
]

_COUNT_CLICKS = """label => { window._boxClicks = 0;
  const box = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stSelectbox"]')]
    .find(e => e.querySelector('[data-testid="stWidgetLabel"]').innerText.trim() === label);
  box.addEventListener('mousedown', () => { window._boxClicks += 1; }, true); }"""


def test_bench_opens_every_select_list_with_one_click(app_server, browser):
    from bench.interactions import change

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    watch = RerunWatch(page)
    clicks = {}
    for url, label in BOXES:
        page.goto(f"{app_server}/{url}")  # each box as a fresh page load leaves it: scrolled to the top
        wait_idle(page)
        assert widget(page, "stSelectbox", label).count(), (url, label)
        page.evaluate(_COUNT_CLICKS, label)
        do, undo = change(page, "stSelectbox", label, 0)
        seconds = timed_interaction(page, watch, do)
        clicks[label] = (page.evaluate("window._boxClicks"), round(seconds, 2))
        wait_idle(page)
        timed_interaction(page, watch, undo)
        wait_idle(page)
        assert not exception_texts(page), url
    screenshot(page, "bench-select-border-mode")
    assert all(n == 1 for n, _ in clicks.values()), f"clicks to open each list (and seconds): {clicks}"
    ctx.close()
