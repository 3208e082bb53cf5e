"""A hostile upload against the live server: the uploader sees its message, and other sessions keep being served."""

from __future__ import annotations

import urllib.request

import pytest

from tests.browser_helpers import exception_texts, wait_idle
from tests.hostile import image_mask_pairs, make_zip, pair_zips

pytestmark = pytest.mark.browser


def test_compression_bomb_on_the_unet_page_leaves_the_server_serving(app_server, browser, tmp_path):
    bomb = next(c for c in pair_zips() if c.name == "bomb.zip")
    (tmp_path / bomb.name).write_bytes(bomb.data)
    (tmp_path / "pairs.zip").write_bytes(make_zip(image_mask_pairs(3)))
    hostile = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = hostile.new_page()
        page.goto(f"{app_server}/unet")
        wait_idle(page)
        page.get_by_text("My image/mask pairs (zip)").click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(tmp_path / bomb.name))
        page.get_by_text("looks like a compression bomb", exact=False).first.wait_for(timeout=60_000)
        assert not exception_texts(page)

        # Another session: the health check answers and a page renders.
        with urllib.request.urlopen(f"{app_server}/_stcore/health", timeout=10) as r:
            assert r.status == 200
        second = other.new_page()
        second.goto(f"{app_server}/pixels")
        wait_idle(second)
        assert second.locator("h1").first.inner_text().strip()
        assert not exception_texts(second)

        # The same session goes on with a normal upload.
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(tmp_path / "pairs.zip"))
        page.get_by_text("ready to train", exact=False).first.wait_for(timeout=60_000)
        assert not exception_texts(page)
    finally:
        hostile.close()
        other.close()
