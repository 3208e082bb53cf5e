"""The convolution walkthrough in a real browser: the figure's Play button animates t, bad input shows st.error."""

import re

import pytest

from tests.browser_helpers import choose, exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_walkthrough_plays_and_bad_input_is_explained(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    page.goto(f"{app_server}/signals_convolution")
    wait_idle(page)
    page.locator('[data-testid="stCode"]').get_by_text(
        "(f*g)(2) = f(0)g(2) + f(1)g(1) + f(2)g(0) + f(3)g(-1) = 1×1 + 2×1 + 3×1 + 4×0 = 6"
    ).wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    title = chart.locator(".gtitle")
    assert title.text_content().startswith("t = 2:")
    written = chart.locator(".annotation-text").filter(has_text="(f*g)(")
    assert written.text_content().startswith("(f*g)(2) = f(0)g(2) + f(1)g(1) + f(2)g(0) + f(3)g(-1)")
    screenshot(page, "signals-convolution-walkthrough")
    chart.locator(".updatemenu-button").first.click()  # ▶ Play
    page.wait_for_function(
        "el => /^t = 5:/.test(el.textContent)", arg=title.element_handle(), timeout=15_000
    )  # played through t = 3, 4, 5 (the last output)
    assert re.match(r"t = 5: \(f \* g\)\(5\) = .* = 4", title.text_content())
    # Play writes each t's sum in the figure, not only in its title.
    assert written.text_content().startswith("(f*g)(5) = f(0)g(5) + f(1)g(4) + f(2)g(3) + f(3)g(2)")
    assert written.text_content().endswith("= 4")
    # A preset redraws the open section's chart alone (the sections are lazy tabs); another tab draws when opened.
    charts = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]')
    choose(page, "Preset for g", "ramp")
    page.get_by_text("g = [1, 2, 3]", exact=True).wait_for()  # the ramp's numbers, in the line under the boxes
    wait_idle(page)
    assert charts.count() == 1 and title.text_content().startswith("t = 2: (f * g)(2) = Σ f(τ)·g(2 − τ) = 10")
    screenshot(page, "signals-convolution-ramp")
    page.get_by_role("tab", name="Output length").click()
    page.get_by_text("Output length: full, same, valid").wait_for()
    wait_idle(page)
    assert charts.count() == 1 and charts.locator(".gtitle").text_content().startswith('mode="full" keeps')
    screenshot(page, "signals-convolution-output-length")
    box = page.get_by_role("textbox", name="Input f: numbers separated by commas")
    box.fill("1, 2, oops")
    box.press("Enter")
    page.get_by_text("“oops”, is not a number").wait_for(timeout=30_000)
    wait_idle(page)
    assert not exception_texts(page)
    assert page.get_by_role("tab", name="Step through t").count() == 0  # the page stops at the error, no sections
    screenshot(page, "signals-convolution-bad-input")
    assert not js_errors, js_errors
    ctx.close()
