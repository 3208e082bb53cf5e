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


def test_pixels_page_shows_the_tensor_the_model_receives():
    from cnn_demo import models

    at = app_test("app_pages/images/pixels.py")
    assert_no_exception(at)
    assert at.selectbox(key="pixels_model").value == "resnet18"
    cfg = models.data_config("resnet18")
    code = at.code[0].value
    assert "# (512, 512, 3): (H, W, C), 0..255" in code and "# (3, 512, 512): (C, H, W)" in code
    assert "torch.Size([1, 3, 224, 224])" in code and 'models.data_config("resnet18")' in code
    table = at.table[0].value
    assert list(table.index) == ["red", "green", "blue"]
    assert list(table["mean"]) == [f"{m:.4g}" for m in cfg.mean]
    assert list(table["std"]) == [f"{s:.4g}" for s in cfg.std]
    lo, hi = -cfg.mean[0] / cfg.std[0], (1 - cfg.mean[0]) / cfg.std[0]
    assert table["after (x − mean)/std"].iloc[0] == f"{lo:.3f} … {hi:.3f}"
    row = at.slider(key="pixels_row").value
    col = at.slider(key="pixels_col").value
    from cnn_demo.io import samples
    from cnn_demo.io.images import to_array

    v = to_array(samples.load_sample(at.selectbox(key="pixels_sample").value, max_side=1024))[row, col, 0]
    worked = at.code[1].value
    scaled, normed = v / 255, (v / 255 - cfg.mean[0]) / cfg.std[0]
    assert worked == (
        f"red: {v:.0f} / 255 = {scaled:.4f};  ({scaled:.4f} − {cfg.mean[0]:.4f}) / {cfg.std[0]:.4f} = {normed:.4f}"
    )
    at.selectbox(key="pixels_model").set_value("timm/efficientnet_b0.ra_in1k").run()
    assert_no_exception(at)
    tcfg = models.data_config("timm/efficientnet_b0.ra_in1k")
    assert list(at.table[0].value["std"]) == [f"{s:.4g}" for s in tcfg.std]
    at.toggle(key="pixels_gray").set_value(True).run()
    assert_no_exception(at)
    assert "# (1, 512, 512): (C, H, W)" in at.code[0].value
    assert any("repeated into 3 identical channels" in c.value for c in at.caption)
    assert at.code[1].value.count("\n") == 2  # the gray value normalised for each of R, G, B


def test_pixels_page_upload_and_zoom():
    at = app_test("app_pages/images/pixels.py")
    assert_no_exception(at)
    assert "(512, 512, 3)" in " ".join(m.value for m in at.markdown)
    at.toggle(key="pixels_gray").set_value(True).run()
    assert_no_exception(at)
    assert "(512, 512)" in " ".join(m.value for m in at.markdown)
    at.selectbox(key="pixels_sample").set_value("chelsea").run()
    assert "(300, 451)" in " ".join(m.value for m in at.markdown)


def test_pixels_page_marks_the_zoom_window_on_the_photo():
    import json

    at = app_test("app_pages/images/pixels.py")
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
