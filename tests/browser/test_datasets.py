"""The dataset widget in real Chromium: upload a zip through the browser and read its report."""

import pytest

from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_upload_dataset_zip(app_server, browser, tmp_path):
    import io
    import zipfile

    from cnn_demo.data.datasets import example_zip

    good = tmp_path / "textures.zip"
    good.write_bytes(example_zip())
    hostile = tmp_path / "hostile.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zipfile.ZipFile(io.BytesIO(example_zip())) as src:
            for info in src.infolist():
                zf.writestr(info.filename, src.read(info))
        zf.writestr("../../escape.png", b"x")
        zf.writestr("textures/train/brick/notes.txt", b"not an image")
        zf.writestr("textures/train/<b>x/only.png", b"broken")
    hostile.write_bytes(buf.getvalue())

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Datasets for training", exact=True).click()
    page.wait_for_url("**/datasets", timeout=30_000)
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(good))
    page.get_by_text("Ready: the train/ and val/ folders will be used as the split.").wait_for(timeout=60_000)
    wait_idle(page)
    assert not exception_texts(page)
    screenshot(page, "datasets-upload")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(hostile))
    page.get_by_text("has 0 usable image(s)").first.wait_for(timeout=60_000)
    page.get_by_text("Skipped files (3)").click()
    wait_idle(page)
    assert not exception_texts(page)
    assert page.locator("b", has_text="x").count() == 0  # the class name "<b>x" is shown as text, not HTML
    page.get_by_text("Class “<b>x” has 0 usable image(s)").wait_for(timeout=10_000)
    screenshot(page, "datasets-hostile")
    page.get_by_role("tab", name="Segmentation: images and masks").click()
    page.get_by_text("Image/mask pairs", exact=True).first.wait_for(timeout=30_000)
    wait_idle(page)
    assert not exception_texts(page)
    screenshot(page, "datasets-segmentation")

    # Build a dataset in the page: two classes, several files each.
    from PIL import Image

    files = []
    for i, colour in enumerate([(200, 30, 30)] * 3 + [(30, 30, 200)] * 3):
        f = tmp_path / f"photo{i}.png"
        Image.new("RGB", (40 + i, 30), colour).save(f)
        files.append(str(f))
    page.get_by_role("tab", name="Classification: one folder per class").click()
    page.get_by_text("Build in the page", exact=True).click()
    wait_idle(page)
    page.get_by_label("Class name").first.fill("red things")
    page.get_by_label("Class name").first.press("Enter")
    wait_idle(page)
    uploaders = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploaders.nth(0).set_input_files(files[:3])
    wait_idle(page)
    uploaders.nth(1).set_input_files(files[3:])
    page.get_by_text("Ready to train.").wait_for(timeout=60_000)
    wait_idle(page)
    assert not exception_texts(page)
    assert page.get_by_text("red things · 3 image(s)").count() == 1
    screenshot(page, "datasets-built")
    ctx.close()
