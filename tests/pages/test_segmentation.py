"""AppTests of the Segmentation page: a fresh install leads with training the person segmenter and never paints a
mask from an untrained network; the trained VOC networks' view stays as it was where their weights are."""

from __future__ import annotations

import functools
import io
import json
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnn_demo import jobs
from cnn_demo.applications import person_segmenter as ps
from cnn_demo.applications import segmentation
from tests.conftest import app_test, assert_no_exception, shown_errors

PAGE = "app_pages/applications/segmentation.py"


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def small_segmenter(monkeypatch):
    """The page's Train button submits a small, quick configuration (the pipeline is the same)."""
    monkeypatch.setattr(ps, "SegmenterConfig", functools.partial(ps.SegmenterConfig, image_size=96, epochs=2))


def all_text(at) -> str:
    """Everything the page says in words (markdown, captions, notes, messages, tables, code, buttons)."""
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "code")
        for e in getattr(at, kind)
    ]
    parts += [str(df.value.to_dict()) for df in at.dataframe]
    parts += [b.proto.label for b in at.get("download_button")] + [b.label for b in at.button]
    return "\n".join(parts)


def frame(at, column: str):
    """The table with this column."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def captions(at) -> list[str]:
    return [im.caption for c in at.get("image") for im in c.proto.imgs]


def headers(at) -> list[str]:
    return [h.value for h in at.header]


def test_fresh_install_leads_with_training_and_paints_no_mask_from_an_untrained_network(fresh_install, state_dir):
    from cnn_demo.weights import hub_dir, weights_dir

    at = app_test(PAGE)
    assert_no_exception(at)
    said = headers(at)
    assert said[0].startswith("1. Train a person segmenter") and said[1] == "2. Segment your photo", said
    assert at.button(key="segmenter_train").label == "Train the person segmenter"
    assert "No segmenter trained in this session yet" in all_text(at)
    for info in segmentation.SEGMENTERS:
        at.selectbox(key="segmentation_model").set_value(info.name).run()
        assert_no_exception(at)
        text = all_text(at)
        assert f"{info.title}: architecture only" in text
        table = frame(at, "stage")
        assert table["stage"].iloc[0] == "input" and table["stage"].iloc[-1] == "output"
        assert table["output (channels × height × width)"].iloc[-1] == "21 × 520 × 520"
        assert set(table["stride"]) <= {1, 8, 16}, table["stride"]  # 520 / 33 is a stride of 16, not 15
        # No mask, no pixel shares, no mask download from random weights, and nothing about fetching files.
        assert not [c for c in at.get("plotly_chart") if "segmentation_shares" in (c.proto.id or "")]
        assert not at.get("download_button")
        assert all(not c.startswith("Supervised") and info.title not in c for c in captions(at)), captions(at)
        assert "Your photo, not segmented yet" in captions(at)
        for operator in ("weights fetch", ".pth", "checkpoints", "UNTRAINED", str(weights_dir()), str(hub_dir())):
            assert operator not in text, operator
        assert not at.code
    assert "train the person segmenter above to see its mask here" in all_text(at)


def test_train_the_segmenter_as_a_job_then_segment_the_photo(state_dir, small_segmenter):
    at = app_test(PAGE)
    at.button(key="segmenter_train").click().run()
    assert_no_exception(at)
    job_id = at.session_state["segmenter_job"]
    assert "queue" in " ".join(str(p.proto) for p in at.get("progress"))
    params = json.loads((state_dir / "jobs" / job_id / "params.json").read_text())
    assert params["kind"] == "person_segmenter" and params["params"]["config"]["image_size"] == 96
    assert jobs.run_job(job_id) == "done"  # what the worker process does
    at.run()
    assert_no_exception(at)
    status = jobs.status(job_id, params["owner"])
    assert [m["epoch"] for m in status.metrics] == [1, 2]
    typed = ps.SegmenterResult.from_dict(status.result)
    assert typed.to_dict() == status.result  # every stored figure is a field: nothing dropped, nothing added
    assert typed.epochs == 2 and typed.classes == ["background", "person"] and typed.config["image_size"] == 96
    assert ps.SegmenterParams.from_params(params["params"]).config.image_size == 96
    previews = ps.load_previews(state_dir / "jobs" / job_id)
    assert len(previews["images"]) == 4 and sorted(previews["pred"]) == [1, 2]
    assert all((t == 1).any() for t in previews["truth"])  # the validation photos with people are the ones shown
    assert at.select_slider(key="segmenter_view_epoch").value == 2
    scores = frame(at, "on the validation photos")
    assert list(scores["on the validation photos"]) == ["this segmenter", "all background", "all person"]
    assert scores["IoU person"].iloc[1] == 0.0
    shown = captions(at)
    assert any(c.startswith("Your person segmenter:") and "of the pixels are person" in c for c in shown), shown
    assert "Supervised: your person segmenter" in shown
    assert any(b.proto.label.startswith("Mask (PNG: 0 background, 1 person") for b in at.get("download_button"))
    assert "photo | true mask | mask after epoch 2" in shown
    # Another photo: segmented at once by the same trained segmenter.
    at.selectbox(key="segmentation_sample").set_value("chelsea").run()
    assert_no_exception(at)
    assert any(c.startswith("Your person segmenter:") for c in captions(at))


def pairs_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, blob in entries:
            zf.writestr(name, blob)
    return buf.getvalue()


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_bad_uploads_get_clear_messages(state_dir):
    at = app_test(PAGE)
    at.radio(key="segmenter_data").set_value("upload").run()
    rng = np.random.default_rng(0)
    photos = [(f"images/p{i}.png", png(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))) for i in range(5)]
    broken = pairs_zip([*photos, *[(f"masks/p{i}.png", b"not a png at all") for i in range(5)]])
    at.file_uploader(key="segmenter_zip").set_value(("broken.zip", broken, "application/zip")).run()
    assert_no_exception(at)
    errors = " ".join(shown_errors(at))
    assert "No image/mask pair could be used" in errors and "masks/p0.png" in errors, errors
    assert "not an image the app can read" in errors
    colour = np.zeros((24, 32, 3), np.uint8)
    colour[5:15, 5:20] = (255, 0, 0)
    coloured = pairs_zip([*photos, *[(f"masks/p{i}.png", png(colour)) for i in range(5)]])
    at.file_uploader(key="segmenter_zip").set_value(("colours.zip", coloured, "application/zip")).run()
    assert "colour picture" in " ".join(shown_errors(at))
    at.button(key="segmenter_train").click().run()
    assert any("Upload a zip of usable image/mask pairs first" in w.value for w in at.warning)
    assert "segmenter_job" not in at.session_state
    mask = np.zeros((24, 32), np.uint8)
    mask[4:20, 8:24] = 1
    good = pairs_zip([*photos, *[(f"masks/p{i}.png", png(mask)) for i in range(5)]])
    at.file_uploader(key="segmenter_zip").set_value(("good.zip", good, "application/zip")).run()
    said = [re.sub(r"\\(.)", r"\1", s.value) for s in at.success]  # as the user reads it (markdown escapes gone)
    assert any("5 image/mask pairs: it will learn person (mask value 1" in s for s in said), said


@pytest.fixture
def voc_weights_present(monkeypatch):
    """As if the VOC networks' trained weights were installed: the pretrained branch runs (on random weights)."""
    from cnn_demo.ui import models, segmenter
    from cnn_demo.ui.models import WeightsState

    monkeypatch.setattr(segmenter, "weights_state", lambda name: WeightsState(True))
    from cnn_demo.models import sources

    monkeypatch.setattr(sources, "load_pretrained", lambda model, entry, drop_prefixes=(): model)
    yield
    models._shared.clear()  # the random stand-ins must not outlive the test
    models.semantic_labels.clear()


def test_with_their_weights_the_voc_networks_stay_as_they_are(voc_weights_present, state_dir):
    at = app_test(PAGE)
    assert_no_exception(at)
    at.selectbox(key="segmentation_model").set_value("lraspp_mobilenet_v3_large").run()
    assert_no_exception(at)
    shares = json.loads(next(c for c in at.get("plotly_chart") if "segmentation_shares" in c.proto.id).proto.spec)
    assert abs(sum(shares["data"][0]["x"]) - 100) < 1e-6
    assert any(c.startswith("LR-ASPP, MobileNetV3-Large: ") and c.endswith(" ms") for c in captions(at))
    assert any(b.proto.label == "Mask (PNG, pixel value = class index)" for b in at.get("download_button"))
    assert "Supervised: LR-ASPP, MobileNetV3-Large" in captions(at)
    assert "architecture only" not in all_text(at) and "UNTRAINED" not in all_text(at)
