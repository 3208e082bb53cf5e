"""Every page of the catalogue renders under AppTest without an exception."""

import pytest

from cnn_demo.ui.catalog import PAGES
from tests.conftest import ROOT, app_test, assert_no_exception


@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_page_renders(spec):
    assert (ROOT / spec.path).is_file()
    at = app_test(spec.path)
    assert_no_exception(at)
    assert at.title, f"{spec.path} shows no title"


def test_home_has_a_card_per_page():
    at = app_test()
    assert_no_exception(at)
    assert at.title[0].value.startswith("Convolutional neural networks")
    text = " ".join(c.value for c in at.caption)
    for spec in PAGES:
        if spec.section:
            assert spec.summary in text, f"no card for {spec.title}"


def test_pixels_page_upload_and_zoom():
    at = app_test("pages/pixels.py")
    assert_no_exception(at)
    assert "(512, 512, 3)" in " ".join(m.value for m in at.markdown)
    at.toggle(key="pixels_gray").set_value(True).run()
    assert_no_exception(at)
    assert "(512, 512)" in " ".join(m.value for m in at.markdown)
    at.selectbox(key="pixels_sample").set_value("chelsea").run()
    assert "(300, 451)" in " ".join(m.value for m in at.markdown)


def test_pixels_page_marks_the_zoom_window_on_the_photo():
    import json

    at = app_test("pages/pixels.py")
    at.slider(key="pixels_row").set_value(100).run()
    at.slider(key="pixels_col").set_value(40).run()
    at.slider(key="pixels_size").set_value(6).run()
    assert_no_exception(at)
    photo = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("-pixels_image"))
    zoom = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("-pixels_window"))
    title = zoom["layout"]["title"]["text"]  # "… values, rows 97–102, columns 37–42"
    rows, cols = (tuple(map(int, part.split(" ")[-1].split("–"))) for part in title.split(", ")[-2:])
    (shape,) = photo["layout"]["shapes"]
    assert (shape["y0"], shape["y1"]) == (rows[0] - 0.5, rows[1] + 0.5)
    assert (shape["x0"], shape["x1"]) == (cols[0] - 0.5, cols[1] + 0.5)
    assert rows[1] - rows[0] + 1 == 6 and rows[0] <= 100 <= rows[1] and cols[0] <= 40 <= cols[1]
