"""Pictures before words: Home shows a picture drawn by the package for every page, in the sidebar's sections;
the U-Net page shows a VOC photo and its mask before offering to train on them."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from cnn_demo.ui import sketch, thumbnails
from cnn_demo.ui.catalog import PAGES, SECTIONS, pages_in
from tests.conftest import app_test, assert_no_exception

SECTION_PAGES = [p for p in PAGES if p.section]


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def _decode(url: str) -> np.ndarray:
    head, data = url.split(",", 1)
    assert head.startswith("data:image/")  # inside the page message: nothing to fetch, no external asset
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_home_shows_the_sidebar_sections_with_a_picture_on_every_card():
    at = app_test()
    assert_no_exception(at)
    # The sidebar's sections, in its order (it said Convolution / Basic CNN architecture / Applications).
    assert [h.value for h in at.header] == [s for s in SECTIONS if pages_in(s)]
    labels = [link.proto.label for link in at.get("page_link")]
    assert labels == [p.title for p in SECTION_PAGES]  # every page, in the sidebar's order
    images = [im for el in at.get("image") for im in el.proto.imgs]
    assert len(images) == len(SECTION_PAGES)  # one picture per page card
    for im in images:
        assert _decode(im.url).shape == (thumbnails.SIZE[1], thumbnails.SIZE[0], 3)


@pytest.mark.parametrize("spec", SECTION_PAGES, ids=[p.url_path for p in SECTION_PAGES])
def test_every_page_has_a_picture_with_something_in_it(spec):
    pic = thumbnails.picture(spec.url_path)
    assert pic is not None, f"no picture for {spec.title}: add one to cnn_demo.ui.thumbnails.PICTURES"
    arr = np.asarray(pic)
    assert arr.shape == (thumbnails.SIZE[1], thumbnails.SIZE[0], 3)
    drawn = (arr != sketch.BACKGROUND).any(-1).mean()
    assert arr.std() > 10 and drawn > 0.03, drawn  # a drawing, not a blank card (line plots cover 4-8 %)
    assert len(thumbnails.data_url(pic)) < 40_000  # small enough for a home page of 18 of them


@pytest.mark.parametrize(("data", "classes"), [("voc_sample", "aeroplane"), ("voc_objects", "object")])
def test_unet_page_shows_a_voc_photo_and_its_mask_before_training(state_dir, data, classes):
    import json

    from cnn_demo.applications import unet
    from cnn_demo.data.figures import colourise

    at = app_test("app_pages/applications/unet.py")
    at.radio(key="unet_data").set_value(data).run()
    assert_no_exception(at)
    shown = [im for el in at.get("image") for im in el.proto.imgs]
    captions = [im.caption for im in shown]
    assert "One of the 14 photos" in captions and "Its mask: the class of every pixel" in captions
    photo, mask, _ = unet.voc_example(data == "voc_objects")
    seen = _decode(shown[captions.index("One of the 14 photos")].url).astype(float)
    assert np.abs(seen - photo).mean() < 3  # the photo itself (a JPEG of it would differ a little)
    drawn_mask = _decode(shown[captions.index("Its mask: the class of every pixel")].url)
    assert np.array_equal(drawn_mask, colourise(mask))  # exact colours: a PNG, not a JPEG
    key = json.loads(next(c for c in at.get("plotly_chart") if "unet_voc_key" in c.proto.id).proto.spec)
    assert classes in [t.strip() for t in key["data"][0]["text"]]
