"""Memory in a real browser (issue #14): a dataset zip whose pixels take hundreds of megabytes, uploaded on the
fine-tuning page, grows the web server by a small fraction of that, and a second tab with the same zip reuses it."""

from __future__ import annotations

import io
import re
import time
import zipfile
from urllib.parse import urlparse

import psutil
import pytest
from PIL import Image

from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser

N_IMAGES = 1500  # 256×256 RGB each: 295 MB of pixels once decoded, a few hundred kB zipped


def flat_pngs_zip(path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(N_IMAGES):
            buf = io.BytesIO()
            Image.new("RGB", (256, 256), (i % 256, i // 256 % 256, 128)).save(buf, "PNG")  # all different
            zf.writestr(f"flat/class{i % 3}/{i:05d}.png", buf.getvalue())


def server_process(url: str) -> psutil.Process:
    """The process answering on ``url``'s port (the Streamlit web server)."""
    port = urlparse(url).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return psutil.Process(conn.pid)
    raise AssertionError(f"nothing listens on port {port}")


def upload(page, base: str, data) -> float:
    page.goto(f"{base}/finetune")
    wait_idle(page)
    t0 = time.perf_counter()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(data))
    page.get_by_text(re.compile("Ready to train|Fix the problems above")).first.wait_for(timeout=600_000)
    assert page.get_by_text("Ready to train").count(), page.inner_text("body")[:2000]
    wait_idle(page)
    return time.perf_counter() - t0


def test_a_large_dataset_upload_is_not_held_per_session(app_server, browser, tmp_path):
    data = tmp_path / "flat.zip"
    flat_pngs_zip(data)
    web = server_process(app_server)
    ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{app_server}/finetune")
    wait_idle(page)
    before = web.memory_info().rss
    upload(page, app_server, data)
    assert page.get_by_text(re.compile(f"{N_IMAGES:,}")).count()  # the report counts every image
    assert not exception_texts(page)
    screenshot(page, "finetune-large-upload")
    grown = (web.memory_info().rss - before) / 2**20
    pixels = N_IMAGES * 256 * 256 * 3 / 2**20
    assert grown < 80 < pixels, f"the server grew by {grown:.0f} MB for {pixels:.0f} MB of pixels"
    # A second user with the same zip gets the stored dataset: no second decode, no second copy.
    other = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
    first_seconds = upload(other, app_server, data)
    assert not exception_texts(other)
    assert (web.memory_info().rss - before) / 2**20 < 100
    assert first_seconds < 60
    other.context.close()
    ctx.close()
