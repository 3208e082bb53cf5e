"""Every upload path in the app (images, dataset zips, image/mask zips, model zips) refuses hostile files with a
message, copes with odd valid ones, and keeps working for the next, normal upload."""

from __future__ import annotations

import re

import pytest

from cnn_demo.ui.catalog import PAGES
from tests.conftest import app_test, assert_no_exception, shown_errors
from tests.hostile import (
    Case,
    broken_images,
    class_folders,
    dataset_zips,
    image_mask_pairs,
    make_zip,
    model_zips,
    odd_images,
    pair_zips,
    png_bytes,
)

LOADER_REFUSALS = ("not an image", "truncated or corrupt", "the limit is", "at least 3 pixels", "too many pixels")
MIME = {"png": "image/png", "jpg": "image/jpeg"}


def _is_picker(radio) -> bool:
    return bool(radio.key) and radio.key.endswith("_source") and list(radio.options) == ["Sample", "Upload"]


def _upload_pickers(at):
    """Switch every shared image picker on the page to 'Upload'; return the keys of their uploaders."""
    prefixes = [r.key[: -len("_source")] for r in at.radio if _is_picker(r)]
    for prefix in prefixes:
        at.radio(key=f"{prefix}_source").set_value("Upload")
    if prefixes:
        at.run()
    return [f"{p}_upload" for p in prefixes]


def _pages_with_pickers():
    found = []
    for spec in PAGES:
        at = app_test(spec.path)
        if any(_is_picker(r) for r in at.radio):
            found.append(spec)
    return found


PICKER_PAGES = _pages_with_pickers()


def test_some_pages_have_pickers():
    assert any(p.url_path == "pixels" for p in PICKER_PAGES)


@pytest.mark.parametrize("spec", PICKER_PAGES, ids=[p.url_path for p in PICKER_PAGES])
def test_broken_and_odd_uploads(spec):
    at = app_test(spec.path)
    keys = _upload_pickers(at)
    assert keys
    for case in broken_images():
        at.file_uploader(key=keys[0]).set_value((case.name, case.data, MIME[case.name.rsplit(".", 1)[-1]]))
        at.run()
        assert_no_exception(at)
        errors = " ".join(e for e in shown_errors(at))
        assert case.message.lower() in errors.lower(), (spec.path, case.name, errors)
    for case in odd_images():
        at.file_uploader(key=keys[0]).set_value((case.name, case.data, MIME[case.name.rsplit(".", 1)[-1]]))
        at.run()
        assert_no_exception(at)
        # Odd but valid images must decode; a page may still explain why it cannot use one (a 17×17 kernel on
        # a 2000×8 strip), but never with one of the loader's refusals.
        refusals = [e for e in shown_errors(at) if any(m in e for m in LOADER_REFUSALS)]
        assert not refusals, (spec.path, case.name, refusals)


# ---------------------------------------------------------------------------------------------- zip uploads


def _error_text(at) -> str:
    return " ".join(e for e in shown_errors(at))


def _upload(at, key: str, case) -> None:
    """Upload one corpus case into the uploader ``key``; the page must not raise."""
    at.file_uploader(key=key).set_value((case.name, case.data, "application/zip")).run()
    assert_no_exception(at)


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def model_zip() -> bytes:
    """A valid export of an untrained two-class myconvnet (no training needed to test the restore path)."""
    from cnn_demo import finetune

    cfg = finetune.TrainConfig(backbone="myconvnet", pretrained=False)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    model = finetune.FineTuned(bb, finetune.build_head(bb.num_features, 2, cfg.head), ["cat", "dog"], cfg)
    return finetune.export_zip(model)


def test_model_zip_restore_refuses_hostile_zips_then_restores_a_good_one(state, model_zip):
    at = app_test("app_pages/models/finetune.py")
    good = Case("model.zip", model_zip, None)
    cases = model_zips(model_zip)
    assert len(cases) >= 25
    for case in cases:
        _upload(at, "finetune_model_upload", case)
        assert case.message.lower() in _error_text(at).lower(), (case.name, _error_text(at))
        assert not at.success, case.name
        _upload(at, "finetune_model_upload", good)
        assert not at.error, (case.name, _error_text(at))
        assert "Restored a myconvnet model for 2 classes" in at.success[0].value
    # The restored model refuses broken images to classify, then classifies a normal one on the same page.
    for case in broken_images():
        at.file_uploader(key="finetune_predict_upload").set_value([(case.name, case.data, "image/png")]).run()
        assert_no_exception(at)
        assert case.message.lower() in _error_text(at).lower(), (case.name, _error_text(at))
        assert not [c for c in at.get("plotly_chart") if c.key == "finetune_pred_0"]
    at.file_uploader(key="finetune_predict_upload").set_value([("x.png", png_bytes(1, (40, 30)), "image/png")])
    at.run()
    assert_no_exception(at)
    assert not at.error, _error_text(at)
    assert [c.key for c in at.get("plotly_chart") if c.key == "finetune_pred_0"]


def test_unet_pairs_upload_refuses_hostile_zips_and_accepts_odd_valid_ones(state):
    at = app_test("app_pages/applications/unet.py")
    at.radio(key="unet_data").set_value("upload").run()
    good = Case("pairs.zip", make_zip(image_mask_pairs(3)), None)
    for case in pair_zips():
        _upload(at, "unet_zip", case)
        if case.message is None:
            assert not at.error, (case.name, _error_text(at))
            assert "ready to train" in at.success[0].value, case.name
        else:
            assert case.message.lower() in _error_text(at).lower(), (case.name, _error_text(at))
            assert not at.success, case.name
            if case.name == "no-masks.zip":  # Train with a refused zip explains instead of queuing a doomed job
                at.button(key="unet_train").click().run()
                assert any("Upload a zip of usable" in w.value for w in at.warning)
        _upload(at, "unet_zip", good)
        assert not at.error, (case.name, _error_text(at))
        assert "3 image/mask pairs, 2 classes: ready to train" in at.success[0].value
    at.button(key="unet_train").click().run()
    assert_no_exception(at)
    assert not at.warning
    assert any("Waiting in the queue" in p.proto.text for p in at.get("progress"))


def test_unet_pairs_upload_names_skipped_files_literally(state):
    at = app_test("app_pages/applications/unet.py")
    at.radio(key="unet_data").set_value("upload").run()
    evil = "[click](javascript:alert(1))"
    data = make_zip([*image_mask_pairs(2), (f"images/{evil}.png", png_bytes(5))])
    _upload(at, "unet_zip", Case("pairs.zip", data, None))
    text = at.success[0].value
    assert "1 file(s) skipped" in text and f"`images/{evil}.png` (image without a mask)" in text


SKIP_REASONS = {"slip.zip": "unsafe path", "links.zip": "symbolic link", "broken.zip": "corrupt or truncated"}


def test_finetune_dataset_zip_refuses_hostile_zips(state):
    at = app_test("app_pages/models/finetune.py")
    good = Case("data.zip", make_zip(class_folders(3)), None)
    for case in dataset_zips():
        _upload(at, "finetune_data_zip", case)
        if case.message is None:
            assert not at.error, (case.name, _error_text(at))
        else:
            assert case.message.lower() in _error_text(at).lower(), (case.name, _error_text(at))
            assert at.button(key="finetune_submit").disabled, case.name
        if case.name in SKIP_REASONS:
            reasons = " ".join(" ".join(map(str, d.value["reason"])) for d in at.dataframe)
            assert SKIP_REASONS[case.name] in reasons, (case.name, reasons)
        _upload(at, "finetune_data_zip", good)
        assert not at.error, (case.name, _error_text(at))
        assert any("Ready to train" in s.value for s in at.success)
        assert not at.button(key="finetune_submit").disabled


def test_finetune_build_in_the_page_refuses_broken_images(state):
    at = app_test("app_pages/models/finetune.py")
    at.radio(key="finetune_data_source").set_value("Build in the page").run()
    mime = {"png": "image/png", "jpg": "image/jpeg"}
    broken = [(c.name, c.data, mime[c.name.rsplit(".", 1)[-1]]) for c in broken_images()]
    at.file_uploader(key="finetune_data_files_0").set_value(broken)
    at.file_uploader(key="finetune_data_files_1").set_value([("b.png", png_bytes(1), "image/png")])
    at.run()
    assert_no_exception(at)
    assert "Class “Class 1” has 0 usable image" in _error_text(at)
    reasons = " ".join(" ".join(map(str, d.value["reason"])) for d in at.dataframe)
    assert "corrupt or truncated" in reasons and "not an image" in reasons and "too large" in reasons
    assert at.button(key="finetune_submit").disabled
    odd = [(c.name, c.data, mime[c.name.rsplit(".", 1)[-1]]) for c in odd_images()]
    at.file_uploader(key="finetune_data_files_0").set_value(odd)
    at.file_uploader(key="finetune_data_files_1").set_value(
        [(f"b{i}.png", png_bytes(i), "image/png") for i in range(3)]
    )
    at.run()
    assert_no_exception(at)
    assert not at.error, _error_text(at)
    assert not at.button(key="finetune_submit").disabled


def test_datasets_page_pairs_report_refuses_hostile_zips(state):
    """The datasets page's image/mask report: each refused zip gives its message, in an error or the skipped table."""
    at = app_test("app_pages/models/datasets.py")
    at.radio(key="datasets_seg_source").set_value("Upload a zip").run()
    good = Case("pairs.zip", make_zip(image_mask_pairs(3)), None)
    for case in pair_zips():
        _upload(at, "datasets_seg_zip", case)
        shown = _error_text(at) + " ".join(
            " ".join(map(str, d.value["details"])) + " ".join(map(str, d.value["reason"]))
            for d in at.dataframe
            if "reason" in d.value
        )
        if case.message is None or case.name == "single.zip":  # one pair is fine for a report (not for training)
            assert not at.error, (case.name, _error_text(at))
        else:
            assert case.message.lower() in shown.lower().replace("\\", ""), (case.name, shown)
        _upload(at, "datasets_seg_zip", good)
        assert not at.error, (case.name, _error_text(at))
        assert {m.label: m.value for m in at.metric}["Image/mask pairs"] == "3"


def _raise_with_hostile_name() -> None:
    from cnn_demo.errors import InputError
    from cnn_demo.ui.common import user_errors

    with user_errors():
        raise InputError("Could not read ![x](http://127.0.0.1:9/track.png) or [click](http://evil.test) <b>bold</b>.")


def test_error_messages_show_user_text_literally():
    """A file name inside an error message is shown as typed: no link, no remote image, no HTML."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_raise_with_hostile_name).run()
    assert not at.exception
    shown = at.error[0].value  # the markdown source, before rendering
    for markup in ("![x](", "[click](", "<b>"):
        assert markup not in shown, shown  # each special character is escaped, so markdown cannot form it
    assert re.sub(r"\\(.)", r"\1", shown) == (
        "Could not read ![x](http://127.0.0.1:9/track.png) or [click](http://evil.test) <b>bold</b>."
    )


def test_model_class_names_and_file_names_show_literally_in_predictions(state):
    """Class names from an uploaded model and file names of images to classify are user text: a chart label never
    becomes a link, and a caption never turns ``:material/warning:`` into an icon."""
    import json

    from cnn_demo import finetune

    evil = ['<a href="http://evil.test">cat</a>', "[dog](http://evil.test) :material/warning:"]
    cfg = finetune.TrainConfig(backbone="myconvnet", pretrained=False)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    model = finetune.FineTuned(bb, finetune.build_head(bb.num_features, 2, cfg.head), evil, cfg)
    at = app_test("app_pages/models/finetune.py")
    _upload(at, "finetune_model_upload", Case("model.zip", finetune.export_zip(model), None))
    assert not at.error, _error_text(at)
    name = ":material/warning: <b>x</b>.png"
    at.file_uploader(key="finetune_predict_upload").set_value([(name, png_bytes(1, (40, 30)), "image/png")]).run()
    assert_no_exception(at)
    (chart,) = [c for c in at.get("plotly_chart") if c.key == "finetune_pred_0"]
    labels = json.loads(chart.proto.spec)["data"][0]["y"]
    assert sorted(labels) == sorted(["&lt;a href=&quot;http://evil.test&quot;&gt;cat&lt;/a&gt;", evil[1]])
    captions = [c for e in at.get("image") for c in e.captions if "x" in c]
    (caption,) = captions
    assert ":material/warning:" not in caption and re.sub(r"\\(.)", r"\1", caption).replace("\u2060", "") == name
