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


def choose_backbone(page, name: str) -> None:
    """Pick a backbone in the page's select box (these tests check the page, so they use a tiny network)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Backbone").locator("input")
    box.click()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    wait_idle(page)
    assert box.input_value().startswith(name), box.input_value()


def train_one_epoch(page, data) -> None:
    """Upload the colours zip, train one epoch of the tiny CIFAR ResNet as a job and wait for its results."""
    choose_backbone(page, "cifar_resnet20")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(data))
    page.get_by_text(re.compile(r"\d+ training and \d+ validation images")).first.wait_for(timeout=60_000)
    wait_idle(page)
    set_number(page, "Epochs", 1)
    page.get_by_role("button", name=re.compile("Train as a background job")).click()
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=180_000)
    wait_idle(page)
    assert "job=" in page.url


def test_train_confusion_download_and_reopen(app_server, browser, tmp_path):
    data = tmp_path / "colours.zip"
    make_zip(data)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{app_server}/finetune")
    wait_idle(page)
    train_one_epoch(page, data)
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
    page.get_by_text("Majority-class baseline").first.wait_for(timeout=30_000)
    page.get_by_text("Compare with another run").first.wait_for(timeout=30_000)
    assert not exception_texts(page)
    screenshot(page, "finetune-reopened")
    ctx.close()


def click_cell(page, chart, row: int, col: int, n: int, fx: float, fy: float) -> None:
    """Click the confusion matrix at fraction (fx, fy) of cell (row, col) of an n x n matrix, with the mouse."""
    chart.scroll_into_view_if_needed()
    box = chart.locator(".nsewdrag").first.bounding_box()
    assert box and box["width"] > 50 and box["height"] > 50, box
    page.mouse.click(box["x"] + box["width"] * (col + fx) / n, box["y"] + box["height"] * (row + fy) / n)
    wait_idle(page)


def test_clicking_a_confusion_cell_lists_its_images(app_server, browser, tmp_path):
    data = tmp_path / "colours.zip"
    make_zip(data)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{app_server}/finetune")
        wait_idle(page)
        train_one_epoch(page, data)
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="predicted class")
        chart.wait_for()
        cell = re.compile(r"(\d+) validation image\(s\) of (\w+) predicted as (\w+)")
        page.get_by_text(cell).first.wait_for()
        assert cell.search(page.get_by_text(cell).first.inner_text()).groups()[1:] == ("blues", "blues")

        # Classes are sorted: row/column 0 is blues, 1 is reds. Click off the cell centres: the whole cell counts.
        for row, col, fx, fy in [(1, 0, 0.2, 0.8), (0, 1, 0.85, 0.15), (1, 1, 0.5, 0.5), (1, 0, 0.7, 0.3)]:
            click_cell(page, chart, row, col, 2, fx, fy)
            names = ("blues", "reds")
            want = (names[row], names[col])
            page.get_by_text(
                re.compile(rf"\d+ validation image\(s\) of {want[0]} predicted as {want[1]}")
            ).first.wait_for()
            count = int(cell.search(page.get_by_text(cell).first.inner_text()).group(1))
            shown = page.locator('[data-testid="stImageCaption"]').filter(has_text=re.compile(r"^\d+%$"))
            assert shown.count() == count, (want, count, shown.count())
            # The select boxes (the keyboard way to choose a cell) follow the click.
            for label, name in zip(("True class", "Predicted class"), want, strict=True):
                box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input")
                assert box.input_value() == name, (label, box.input_value())
        assert not exception_texts(page)
        screenshot(page, "finetune-confusion-click")
    finally:
        ctx.close()
