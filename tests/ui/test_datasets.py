"""The dataset widget under AppTest: each source, the report, hostile input and the split controls."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import assert_no_exception, shown_errors


def _app():
    import streamlit as st

    from cnn_demo.ui.datasets import dataset_input, split_input

    ds = dataset_input("ft")
    if ds is None:
        st.text("RESULT none")
    else:
        split = split_input("ft", ds)
        st.text(f"RESULT {len(ds)} {'|'.join(ds.class_names)} {len(split.train)}/{len(split.val)}")


def png(seed: int, size=(20, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def make_zip(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def result(at) -> str:
    return next(t.value for t in at.text if t.value.startswith("RESULT"))


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    """A private state folder: uploaded datasets are decoded into its dataset store."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def at():
    app = AppTest.from_function(_app, default_timeout=60)
    app.run()
    assert_no_exception(app)
    return app


def upload_zip(at, data: bytes, name: str = "data.zip"):
    at.file_uploader(key="ft_zip").set_value((name, data, "application/zip")).run()
    assert_no_exception(at)
    return at


def test_zip_upload_shows_report_and_split(at):
    assert result(at) == "RESULT none"
    assert any("one folder per class" in i.value for i in at.info)
    entries = [(f"pets/{c}/{i}.png", png(10 * k + i)) for k, c in enumerate(("cats", "dogs")) for i in range(3)]
    entries += [("pets/cats/notes.txt", b"hi"), ("../evil.png", png(99)), ("__MACOSX/pets/._x.png", b"x")]
    upload_zip(at, make_zip(entries))
    assert result(at) == "RESULT 6 cats|dogs 4/2"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "6" and metrics["Skipped files"] == "3"
    skipped = at.dataframe[0].value
    assert dict(zip(skipped["file"], skipped["reason"], strict=True)) == {
        "../evil.png": "unsafe path (absolute or with ..)",
        "__MACOSX/pets/._x.png": "macOS metadata (__MACOSX)",
        "pets/cats/notes.txt": "not an image",
    }
    assert len(at.get("plotly_chart")) == 1 and len(at.get("image")) == 2
    at.slider(key="ft_val_fraction").set_value(0.5).run()
    assert result(at) == "RESULT 6 cats|dogs 2/4"


def test_given_split_can_be_replaced_by_a_stratified_one(at):
    entries = [
        (f"{s}/{c}/{i}.png", png(100 * ("train", "val").index(s) + 10 * "ab".index(c) + i))
        for s in ("train", "val")
        for c in "ab"
        for i in range(5)
    ]
    upload_zip(at, make_zip(entries))
    assert result(at) == "RESULT 20 a|b 10/10"
    at.toggle(key="ft_use_given").set_value(False).run()
    assert result(at) == "RESULT 20 a|b 16/4"


def test_hostile_zips_show_their_message(at):
    upload_zip(at, make_zip([("a/1.png", png(1)), ("a/2.png", png(2)), ("b/bomb.png", b"\0" * (50 << 20))]))
    assert any("compression bomb" in e for e in shown_errors(at))
    assert result(at) == "RESULT none"
    upload_zip(at, b"not a zip at all", "fake.zip")
    assert any("not a valid .zip" in e for e in shown_errors(at))
    upload_zip(at, make_zip([("only/1.png", png(1)), ("only/2.png", png(2))]))
    assert any("at least 2 classes" in e for e in shown_errors(at))
    assert result(at) == "RESULT none"


def test_user_names_are_escaped_not_rendered(at):
    evil = "<img src=x onerror=alert(1)>"
    entries = [(f"{evil}/{i}.png", png(i)) for i in range(2)] + [
        (f"[link](http://x)/{i}.png", png(5 + i)) for i in range(2)
    ]
    upload_zip(at, make_zip(entries), "<b>bold</b>.zip")
    assert_no_exception(at)
    texts = [m.value for m in [*at.markdown, *at.caption, *at.error, *at.warning]]
    assert not any(re.search(r"(?<!\\)(<img|<b>|</b|\[link|\(http)", t) for t in texts)
    assert any("\\<b\\>bold" in t for t in texts)
    assert any("\\<img src=x onerror=alert\\(1\\)\\>" in t for t in texts)


def test_builtin_dataset(at):
    at.radio(key="ft_source").set_value("Built-in dataset").run()
    assert_no_exception(at)
    assert result(at) == "RESULT 192 brick|grass|gravel 153/39"
    assert any("About 64 images per class is small" in c.value for c in at.caption)
    at.selectbox(key="ft_builtin").set_value("faces").run()
    assert result(at) == "RESULT 200 face|not a face 160/40"
    at.number_input(key="ft_seed").set_value(3).run()
    assert result(at) == "RESULT 200 face|not a face 160/40"


def test_build_in_the_page_with_files_and_camera(at):
    at.radio(key="ft_source").set_value("Build in the page").run()
    assert result(at) == "RESULT none"
    at.text_input(key="ft_name_0").set_value("apples")
    at.text_input(key="ft_name_1").set_value("pears")
    at.file_uploader(key="ft_files_0").set_value([(f"a{i}.png", png(i), "image/png") for i in range(3)])
    at.file_uploader(key="ft_files_1").set_value([("p0.jpg", jpeg(7), "image/jpeg"), ("bad.png", b"xx", "image/png")])
    at.run()
    assert_no_exception(at)
    assert any("“pears” has 1 usable image" in e for e in shown_errors(at))
    assert result(at) == "RESULT none"
    at.toggle(key="ft_camera_1").set_value(True).run()
    at.camera_input(key="ft_cam_1").set_value(("shot.jpg", jpeg(8), "image/jpeg")).run()
    assert_no_exception(at)
    assert result(at) == "RESULT 5 apples|pears 3/2"
    assert any("1 from the camera" in c.value for c in at.caption)
    at.text_input(key="ft_name_1").set_value("Apples").run()
    assert any("Two classes are called" in e for e in shown_errors(at))
    at.text_input(key="ft_name_1").set_value("pears").run()
    at.button(key="ft_add").click().run()
    assert at.text_input(key="ft_name_2").value == "Class 3"
    assert any("“Class 3” has 0 usable" in e for e in shown_errors(at))
    at.button(key="ft_remove_2").click().run()
    assert result(at) == "RESULT 5 apples|pears 3/2"
    at.button(key="ft_clear_1").click().run()
    assert result(at) == "RESULT none"


def test_datasets_page_example_zip_and_segmentation():
    from cnn_demo.data.datasets import example_zip
    from tests.conftest import app_test, shared_path

    at = app_test("app_pages/models/datasets.py")
    assert_no_exception(at)
    at.file_uploader(key="datasets_zip").set_value(("textures.zip", example_zip(), "application/zip")).run()
    assert_no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "36" and metrics["Classes"] == "3"
    assert any(
        "9 training and 3 validation" in c.value or "27 training and 9 validation" in c.value for c in at.caption
    )
    shared_path("seg_sample", "voc_vainf")
    assert metrics["Image/mask pairs"] == "14"
    pixels = [c for c in at.get("plotly_chart") if c.key == "datasets_seg_pixels_chart"]
    assert len(pixels) == 1


def test_segmentation_upload_with_class_names():
    def app():
        import streamlit as st

        from cnn_demo.ui.datasets import segmentation_input

        seg = segmentation_input("seg")
        st.text("RESULT none" if seg is None else f"RESULT {len(seg)} {'|'.join(seg.class_names)}")

    at = AppTest.from_function(app, default_timeout=60)
    at.run()
    at.radio(key="seg_source").set_value("Upload a zip").run()
    assert result(at) == "RESULT none"
    mask = np.zeros((16, 20), np.uint8)
    mask[4:10, 5:15] = 1
    buf = io.BytesIO()
    Image.fromarray(mask, "L").save(buf, format="PNG")
    entries = [("images/a.png", png(1)), ("masks/a.png", buf.getvalue()), ("class_names.txt", b"sky\n<b>ground</b>\n")]
    at.file_uploader(key="seg_zip").set_value(("pairs.zip", make_zip(entries), "application/zip")).run()
    assert_no_exception(at)
    assert result(at) == "RESULT 1 sky|<b>ground</b>"
    bad = make_zip([("images/a.png", png(1)), ("masks/b.png", buf.getvalue())])
    at.file_uploader(key="seg_zip").set_value(("bad.zip", bad, "application/zip")).run()
    assert any("No image/mask pair" in e for e in shown_errors(at))
    assert result(at) == "RESULT none"


def test_voc_sample_ships_with_the_app():
    from cnn_demo.ui.datasets import _voc_sample

    def app():
        import streamlit as st

        from cnn_demo.ui.datasets import segmentation_input

        st.text("RESULT none" if segmentation_input("seg") is None else "RESULT data")

    _voc_sample.clear()
    try:
        at = AppTest.from_function(app, default_timeout=60)
        at.run()
        assert_no_exception(at)
        assert not shown_errors(at)
        assert result(at) == "RESULT data"
    finally:
        _voc_sample.clear()


def test_a_tiny_class_can_be_dropped_instead_of_blocking_training(at):
    entries = [(f"pets/{c}/{i}.png", png(10 * k + i)) for k, c in enumerate(("cats", "dogs")) for i in range(3)]
    entries += [("pets/birds/0.png", png(77))]
    upload_zip(at, make_zip(entries))
    assert result(at) == "RESULT none"
    assert any("“birds” has 1 usable image(s)" in e for e in shown_errors(at))
    box = at.checkbox(key="ft_drop_small")
    assert box.label == "Drop birds (1 image(s)) and train on the other 2 classes"
    box.check().run()
    assert_no_exception(at)
    assert not shown_errors(at)
    assert result(at).startswith("RESULT 6 cats|dogs")
    assert any(w.value.startswith("Dropped for training\\: “birds”") for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Classes"] == "2"


def test_long_skip_details_are_listed_in_full(at):
    from cnn_demo.ui.dataset_preview import LONG_DETAIL

    broken = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    entries = [(f"pets/{c}/{i}.png", png(10 * k + i)) for k, c in enumerate(("cats", "dogs")) for i in range(3)]
    entries += [("pets/cats/broken_file_with_a_long_name.png", broken)]
    upload_zip(at, make_zip(entries))
    details = list(at.dataframe[0].value["details"])
    long = [d for d in details if len(d) > LONG_DETAIL]
    assert long, details  # the loader's message does not fit a cell
    listed = " ".join(m.value for m in at.markdown)
    for d in long:
        assert d.replace(".", "\\.")[:40] in listed or d[:40] in listed


@pytest.mark.parametrize(
    ("extra", "message", "label"),
    [
        (  # a class whose only file is broken: empty once decoded
            [("pets/birds/0.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)],
            "“birds” has 0 usable image(s)",
            "Drop birds (0 image(s)) and train on the other 2 classes",
        ),
        (  # an empty folder in the zip
            [("pets/birds/", b"")],
            "“birds” has 0 usable image(s)",
            "Drop birds (0 image(s)) and train on the other 2 classes",
        ),
    ],
)
def test_an_empty_class_can_be_dropped_too(at, extra, message, label):
    entries = [(f"pets/{c}/{i}.png", png(10 * k + i)) for k, c in enumerate(("cats", "dogs")) for i in range(3)]
    upload_zip(at, make_zip(entries + extra))
    assert result(at) == "RESULT none" and any(message in e for e in shown_errors(at))
    box = at.checkbox(key="ft_drop_small")
    assert box.label == label
    box.check().run()
    assert_no_exception(at)
    assert not shown_errors(at) and result(at).startswith("RESULT 6 cats|dogs")


def test_a_class_with_no_training_images_in_a_given_split_can_be_dropped(at):
    entries = [
        (f"pets/{part}/{c}/{i}.png", png(100 * j + 10 * k + i))
        for j, part in enumerate(("train", "val"))
        for k, c in enumerate(("cats", "dogs"))
        for i in range(3)
    ]
    entries += [("pets/val/birds/0.png", png(998)), ("pets/val/birds/1.png", png(999))]
    upload_zip(at, make_zip(entries))
    assert any("“birds” has no images in train/" in e for e in shown_errors(at))
    at.checkbox(key="ft_drop_small").check().run()
    assert_no_exception(at)
    assert not shown_errors(at) and result(at).startswith("RESULT 12 cats|dogs")
