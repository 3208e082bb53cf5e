"""The real app in headless Chromium: every page opens from the navigation without an exception."""

import time

import pytest

from cnn_demo.ui.catalog import PAGES
from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_every_page_from_the_navigation(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    page.goto(app_server)
    wait_idle(page)
    assert not exception_texts(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for spec in PAGES:
        nav.get_by_role("link", name=spec.title, exact=True).click()
        page.wait_for_url(f"**/{'' if spec.url_path == 'home' else spec.url_path}", timeout=30_000)
        wait_idle(page)
        assert not exception_texts(page), f"{spec.title}: {exception_texts(page)}"
        assert page.locator("h1").first.is_visible()
        screenshot(page, f"page-{spec.url_path}")
    assert not js_errors, js_errors
    ctx.close()


def _pixels_page_with_upload(browser, app_server: str, path, shape: str):
    """A new browser context on *Images as numbers* with ``path`` uploaded; waits for its ``shape`` to show."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{app_server}/pixels")
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text(shape, exact=True).wait_for(timeout=30_000)
    return ctx, page


def test_upload_through_the_picker(app_server, browser, tmp_path):
    from PIL import Image

    path = tmp_path / "upload.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    ctx, page = _pixels_page_with_upload(browser, app_server, path, "(48, 64, 3)")
    screenshot(page, "pixels-upload")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_text("not an image the app can read").wait_for(timeout=30_000)
    assert not exception_texts(page)
    screenshot(page, "pixels-bad-upload")
    ctx.close()


def test_deep_link_on_a_fresh_server_goes_through_app_py(browser, tmp_path):
    """A first visitor landing on /pixels gets the app's navigation and sidebar, not the bare page script."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT, free_port, wait_http

    port = free_port()
    env = dict(os.environ, CNN_DEMO_STATE_DIR=str(tmp_path))
    cmd = [sys.executable, "-m", "cnn_demo", "serve", "--no-worker", "--port", str(port), "--address", "127.0.0.1"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/pixels")
        wait_idle(page)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "Running on" in sidebar, sidebar
        assert "Images as numbers" in sidebar
        page.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_hovering_a_pixel_shows_its_exact_values(app_server, browser, tmp_path):
    """Images travel to the browser as PNGs; plotly reads each pixel back from them for the hover label."""
    import numpy as np
    from PIL import Image

    from cnn_demo.io.images import load_image

    h, w = 8, 12
    rows, cols = np.mgrid[0:h, 0:w]
    pixels = np.stack([rows * 30 + 5, cols * 20 + 3, 255 - rows * cols], axis=-1).astype(np.uint8)
    path = tmp_path / "grid.png"
    Image.fromarray(pixels).save(path)
    gray = np.asarray(load_image(path.read_bytes(), grayscale=True))
    ctx, page = _pixels_page_with_upload(browser, app_server, path, f"({h}, {w}, 3)")
    wait_idle(page)

    def hover(r: int, c: int) -> str:
        chart = page.locator(".st-key-pixels_image .js-plotly-plot")
        box = chart.locator(".imagelayer image").bounding_box()
        page.mouse.move(box["x"] + (c + 0.5) * box["width"] / w, box["y"] + (r + 0.5) * box["height"] / h)
        label = chart.locator(".hoverlayer .hovertext")
        for _ in range(50):  # the label follows the mouse a moment later
            text = label.text_content(timeout=10_000) if label.count() else ""
            if text.startswith(f"row {r}, column {c}"):
                break
            page.wait_for_timeout(100)
        return text

    for r, c in [(0, 0), (3, 7), (7, 11)]:
        red, green, blue = pixels[r, c]
        assert hover(r, c) == f"row {r}, column {c}R {red}, G {green}, B {blue}"
    screenshot(page, "pixels-hover")
    page.get_by_test_id("stCheckbox").get_by_text("Grayscale", exact=True).click()
    page.get_by_text(f"({h}, {w})", exact=True).wait_for(timeout=30_000)  # not the code comment
    wait_idle(page)
    assert hover(5, 2) == f"row 5, column 2value {gray[5, 2]}"
    ctx.close()


def test_the_browser_fixture_catches_off_server_requests_and_console_errors(browser):
    """The guard every browser test runs under can fail: a page fetching from a CDN is caught twice over."""
    page = browser.new_page()
    page.set_content('<img src="https://fonts.gstatic.com/x.svg"><script>console.error("boom")</script>')
    expected = (
        lambda p: p.startswith("request off the server: https://fonts.gstatic.com/x.svg"),
        lambda p: "console error: boom" in p,
        lambda p: "ERR_NAME_NOT_RESOLVED" in p or "Failed to load resource" in p,
    )
    deadline = time.monotonic() + 30
    # Playwright delivers the events while it waits: poll until all three are recorded (bounded), not a fixed pause.
    while not all(any(seen(p) for p in browser.problems) for seen in expected) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    problems = list(browser.problems)
    browser.problems.clear()  # this test provoked them on purpose
    for seen in expected:
        assert any(seen(p) for p in problems), problems


def test_home_url_opens_the_home_page_without_page_not_found(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(f"{app_server}/home")
    wait_idle(page)
    assert page.locator("h1").first.inner_text().strip() != ""
    assert not exception_texts(page)
    assert not page.get_by_text("Page not found").count()
    assert not [m for m in console if "does not exist" in m.lower() or "page not found" in m.lower()], console
    assert page.url.endswith("/home")
    screenshot(page, "home-url")
    ctx.close()
