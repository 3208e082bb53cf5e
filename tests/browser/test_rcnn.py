"""The R-CNN and Fast R-CNN page in headless Chromium: the whole page, then the inspected proposal moved."""

import re

import pytest

from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def slider(page, label: str):
    """The thumb of the Streamlit slider whose label is exactly ``label``."""
    exact = page.get_by_text(label, exact=True)
    return page.locator('[data-testid="stSlider"]').filter(has=exact).get_by_role("slider").first


def test_rcnn_page_in_the_browser(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    page.goto(f"{app_server}/rcnn")
    wait_idle(page, timeout_ms=240_000)
    page.get_by_text(re.compile(r"Fast R-CNN was \d+× faster")).first.wait_for(timeout=240_000)
    wait_idle(page)
    assert not exception_texts(page)
    assert page.locator('[data-testid="stImage"] img').count() >= 24 + 2  # the crops, the grouping, the crop
    screenshot(page, "rcnn-page")
    # Inspect another proposal: the text under the feature map follows.
    thumb = slider(page, "Proposal")
    thumb.focus()
    thumb.press("Home")
    for _ in range(4):
        thumb.press("ArrowRight")
    wait_idle(page)
    page.get_by_text(re.compile(r"Proposal 4: R-CNN says")).first.wait_for(timeout=60_000)
    assert page.get_by_text(re.compile(r"best-ranked 100 proposals")).count() == 1  # the cap did not move
    # Step through the grouping.
    thumb = slider(page, "Merges done")
    thumb.focus()
    thumb.press("Home")
    wait_idle(page)
    page.get_by_text(re.compile(r"after 0 merges")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert not exception_texts(page)
    screenshot(page, "rcnn-interaction")
    # The erase test: R-CNN's, then Fast R-CNN's pictures and explanation.
    page.get_by_text("Which box is the best?").first.scroll_into_view_if_needed()
    assert page.get_by_text("R-CNN erases its own way", exact=False).count() >= 1
    page.locator('[data-testid="stRadio"]').get_by_text("Fast R-CNN", exact=True).click()
    wait_idle(page)
    page.get_by_text(re.compile(r"Fast R-CNN erases its own way")).first.wait_for(timeout=60_000)
    page.get_by_text("Which box is the best?").first.scroll_into_view_if_needed()
    assert not exception_texts(page)
    screenshot(page, "rcnn-erase-test")
    ctx.close()
