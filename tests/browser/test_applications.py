"""The detection and segmentation pages in headless Chromium: move sliders, see the results change."""

import re

import pytest

from tests.browser_helpers import exception_texts, screenshot, wait_idle

pytestmark = pytest.mark.browser


def slider(page, label: str):
    """The thumb of the Streamlit slider with this label."""
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider").first


def faces_shown(page) -> int:
    text = page.get_by_text(re.compile(r"^\d+ faces? in \d+ ms")).first.inner_text()
    return int(re.search(r"(\d+) face", text).group(1))


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.scroll_into_view_if_needed()
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def test_detection_page_in_the_browser(app_server, browser):
    """Offline (no COCO weights): MTCNN's faces by default, its cascade stage by stage; a COCO detector shows its
    architecture and draws no box; the pipelines diagram and the IoU demo."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    js_errors: list[str] = []
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    page.goto(app_server)  # a fresh server must run app.py first (see the report), then the page
    wait_idle(page)
    page.goto(f"{app_server}/detection")
    wait_idle(page)
    assert not exception_texts(page)
    before = faces_shown(page)
    assert before >= 4
    assert page.locator('[data-testid="stImage"] img').first.is_visible()
    assert page.get_by_role("button", name="Faces (JSON)").is_visible()
    screenshot(page, "detection-faces")
    # A stricter O-Net keeps fewer faces.
    page.get_by_text("Cascade settings").first.click()
    thumb = slider(page, "O-Net threshold")
    thumb.focus()
    thumb.press("End")
    wait_idle(page)
    page.get_by_text(re.compile(r"^\d+ faces? in \d+ ms")).first.wait_for(timeout=60_000)
    assert faces_shown(page) < before
    # P-Net's probability map, level by level.
    page.get_by_role("tab", name="2. P-Net: a sliding classifier").click()
    wait_idle(page)
    page.get_by_text(re.compile(r"Level 0 is the photo at")).first.wait_for(timeout=60_000)
    thumb = slider(page, "Pyramid level")
    thumb.focus()
    # One step at a time: each run writes the (clamped) level back to the slider, so a run still going when the next
    # key is pressed would set the slider back.
    for level in (1, 2, 3):
        thumb.press("ArrowRight")
        page.get_by_text(re.compile(rf"Level {level} is the photo at")).first.wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_text(re.compile(r"Level 3 is the photo at")).first.wait_for(timeout=60_000)
    screenshot(page, "detection-faces-pnet")
    page.get_by_role("tab", name="4. R-Net").click()
    wait_idle(page)
    page.get_by_text(re.compile(r"What R-Net saw")).first.wait_for(timeout=60_000)
    screenshot(page, "detection-faces-rnet")
    page.get_by_role("tab", name="6. NMS, landmarks").click()
    wait_idle(page)
    page.get_by_text(re.compile(r"O-Net passed \d+ windows")).first.wait_for(timeout=60_000)
    screenshot(page, "detection-faces-nms")
    # A COCO detector without its weights: its architecture, no boxes, no downloads.
    choose(page, "Detector", "Faster R-CNN, MobileNetV3-Large 320 FPN (fast) — architecture only")
    page.get_by_text(re.compile(r"Architecture only\.")).first.wait_for(timeout=60_000)
    assert not page.locator('[data-testid="stDownloadButton"]').count()
    assert not page.get_by_text(re.compile("UNTRAINED|weights fetch")).count()
    assert not exception_texts(page)
    screenshot(page, "detection-architecture")
    # The IoU demo: move box B far away, the IoU drops to 0.
    thumb = slider(page, "B: x")
    thumb.focus()
    thumb.press("End")
    wait_idle(page)
    page.get_by_text(re.compile(r"IoU = 0 / \d+ = 0\.000")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert not exception_texts(page)
    assert not js_errors, js_errors
    ctx.close()


def test_segmentation_page_in_the_browser(app_server, browser):
    """A fresh install: the VOC networks show their architecture only; one click trains the person segmenter (features,
    then epochs, with the time left), which then segments the photo."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    page.goto(f"{app_server}/segmentation")
    wait_idle(page)
    assert not exception_texts(page)
    page.get_by_text("architecture only").first.wait_for(timeout=60_000)
    assert page.get_by_role("button", name=re.compile("Mask \\(PNG")).count() == 0  # no mask from random weights
    page.get_by_text(re.compile(r"4 clusters")).first.wait_for(timeout=60_000)
    thumb = slider(page, "k-means: clusters K")
    thumb.focus()
    thumb.press("ArrowRight")
    thumb.press("ArrowRight")
    wait_idle(page)
    page.get_by_text(re.compile(r"6 clusters")).first.wait_for(timeout=60_000)
    screenshot(page, "segmentation-fresh-install")
    page.get_by_role("button", name="Train the person segmenter").click()
    page.get_by_text(re.compile(r"Extracting features: \d+ of 128 images")).first.wait_for(timeout=120_000)
    screenshot(page, "segmentation-training-features")
    page.get_by_text(re.compile(r"Epoch \d+ of 20")).first.wait_for(timeout=240_000)
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=300_000)
    wait_idle(page)
    assert "job=" in page.url
    page.get_by_text(re.compile(r"Your person segmenter: \d+\.\d% of the pixels are person")).first.wait_for(
        timeout=60_000
    )
    # The download button's code loads lazily, after the text: wait for it rather than look once.
    page.get_by_role("button", name=re.compile(r"Mask \(PNG: 0 background, 1 person")).first.wait_for(timeout=60_000)
    assert page.get_by_text(re.compile(r"Trained on 102 photos, checked on 26 others")).first.is_visible()
    assert not exception_texts(page)
    screenshot(page, "segmentation-trained")
    ctx.close()


def test_localization_job_in_the_browser_and_reopened_from_its_link(app_server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(app_server)
    wait_idle(page)
    page.goto(f"{app_server}/localization")
    wait_idle(page)
    page.get_by_text("Nothing trained in this session yet").first.wait_for()
    epochs = slider(page, "Epochs")
    epochs.focus()
    epochs.press("Home")
    epochs.press("ArrowRight")  # 2 epochs
    wait_idle(page)
    images = slider(page, "Training images")
    images.focus()
    images.press("Home")  # 300 images
    wait_idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    # The panel refreshes itself: progress while the job runs, then the page once it has finished.
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=180_000)
    wait_idle(page)
    assert "job=" in page.url
    page.get_by_text(re.compile(r"After epoch 2: mean IoU")).first.wait_for(timeout=30_000)
    assert page.get_by_text(re.compile(r"^IoU \d\.\d\d$")).count() == 8
    assert not exception_texts(page)
    url = page.url
    page.close()

    page = ctx.new_page()  # a closed tab: the link opens the same job (same browser) in a new session
    page.goto(url)
    wait_idle(page)
    page.get_by_text(re.compile(r"After epoch 2: mean IoU")).first.wait_for(timeout=60_000)
    assert not exception_texts(page)
    screenshot(page, "localization-job")
    ctx.close()
