"""The 'Train a person detector' page in headless Chromium: upload a labelled zip, read its report, train, watch
the proposals per epoch, run the trained detector on a photo (screenshots in test-artifacts/)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from cnn_demo.data import boxes
from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def slider(page, label: str):
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider").first


def labelled_zip(tmp_path) -> str:
    """Eight photos of the people sample in YOLO format, with one broken line a student would make."""
    sample = boxes.load_people_sample()
    people = [i for i, b in enumerate(sample.boxes) if 0 < len(b) <= 4][:6]
    nobody = [i for i, b in enumerate(sample.boxes) if not len(b)][:2]
    with zipfile.ZipFile(io.BytesIO(boxes.to_zip(sample.subset(sorted(people + nobody)), "yolo"))) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    first = next(n for n in files if n.startswith("labels/"))
    files[first] += b"0 0.5 0.5 -0.2 0.3\n"
    path = tmp_path / "my_people.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return str(path)


def test_train_a_detector_on_an_uploaded_zip_in_the_browser(app_server, browser, tmp_path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    page.goto(f"{app_server}/train_detector")
    wait_idle(page)
    page.get_by_text("A weak detector, trained on a few photos").first.wait_for()
    page.get_by_text(re.compile(r"128 photos read, 254 person boxes")).first.wait_for()
    assert not exception_texts(page)
    screenshot(page, "train-detector-sample")

    page.get_by_text("My labelled photos (zip)").click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(labelled_zip(tmp_path))
    page.get_by_text(re.compile(r"Ready to train: 8 photos")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_text(re.compile(r"box with negative or zero size: 1")).first.is_visible()
    screenshot(page, "train-detector-upload-report")

    epochs = slider(page, "Epochs")
    epochs.focus()
    epochs.press("Home")  # 2 epochs
    wait_idle(page)
    page.get_by_role("button", name="Train the detector").click()
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=300_000)
    wait_idle(page)
    assert "job=" in page.url
    page.get_by_text(re.compile(r"After epoch 2: AP50 \d\.\d{3} on the held-out photos")).first.wait_for(timeout=60_000)
    assert page.get_by_text(re.compile(r"RPN proposals \(15\)")).first.is_visible()
    assert page.get_by_text(re.compile(r"best proposals reach \d+ of the \d+ people")).first.is_visible()
    page.get_by_text(re.compile(r"person box(es)? scoring at least 0\.50")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert not exception_texts(page)
    screenshot(page, "train-detector-job")
    ctx.close()
