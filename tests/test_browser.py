"""The real app in headless Chromium: every page opens from the navigation without an exception."""

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


def test_upload_through_the_picker(app_server, browser, tmp_path):
    from PIL import Image

    path = tmp_path / "upload.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{app_server}/pixels")
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text("(48, 64, 3)").wait_for(timeout=30_000)
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
