"""Helpers for driving the real app in Chromium with Playwright."""

from __future__ import annotations

import re

from tests.conftest import ARTIFACTS

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
