"""The fine-tuning page in a real browser: upload a zip, train, see the confusion matrix, download the model,
then close the tab mid-training and find the job finished when reopening its link."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def make_zip(path) -> None:
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for name, colour in (("reds", (200, 40, 40)), ("blues", (40, 40, 200))):
            for i in range(8):
                arr = np.clip(np.array(colour) + rng.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
                tmp = path.parent / f"{name}{i}.png"
                Image.fromarray(arr).save(tmp)
                zf.write(tmp, f"colours/{name}/{i}.png")


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_train_confusion_download_and_reopen(app_server, browser, tmp_path):
    data = tmp_path / "colours.zip"
    make_zip(data)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{app_server}/finetune")
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(data))
    page.get_by_text(re.compile(r"\d+ training and \d+ validation images")).first.wait_for(timeout=60_000)
    wait_idle(page)
    set_number(page, "Epochs", 1)
    page.get_by_role("button", name=re.compile("Train as a background job")).click()
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=180_000)
    wait_idle(page)
    assert "job=" in page.url
    page.get_by_text("Confusion matrix", exact=False).first.wait_for(timeout=30_000)
    assert not exception_texts(page)
    screenshot(page, "finetune-results")

    # Choosing a cell of the confusion matrix lists those validation images.
    page.get_by_text(re.compile(r"\d+ validation image\(s\) of blues predicted as blues")).first.wait_for()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Predicted class").locator("input").click()
    page.keyboard.type("reds")
    page.keyboard.press("Enter")
    wait_idle(page)
    page.get_by_text(re.compile(r"\d+ validation image\(s\) of blues predicted as reds")).first.wait_for()

    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=re.compile("Download model.zip")).click()
    saved = tmp_path / "model.zip"
    info.value.save_as(saved)
    from cnn_demo import finetune

    model = finetune.load_export(saved.read_bytes())
    assert model.class_names == ["blues", "reds"]

    # A longer run: close the tab while it trains, reopen its link later.
    set_number(page, "Epochs", 40)
    page.get_by_text("Fine-tune all", exact=True).click()
    wait_idle(page)
    first_url = page.url
    page.get_by_role("button", name=re.compile("Train as a background job")).click()
    page.wait_for_function(f"() => location.href !== {first_url!r}", timeout=30_000)
    page.get_by_text(re.compile("Running|Waiting in the queue")).first.wait_for(timeout=60_000)
    url = page.url
    page.close()

    page = ctx.new_page()
    page.goto(url)
    wait_idle(page)
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=240_000)
    wait_idle(page)
    page.get_by_text("Validation accuracy").first.wait_for(timeout=30_000)
    page.get_by_text("Compare with another run").first.wait_for(timeout=30_000)
    assert not exception_texts(page)
    screenshot(page, "finetune-reopened")
    ctx.close()
