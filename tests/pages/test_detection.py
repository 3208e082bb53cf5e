"""AppTests of the Object detection page: MTCNN's faces by default offline, COCO detectors only as architecture
without their weights (no box, no score anywhere), the pretrained path with injected weights, the pipelines."""

from __future__ import annotations

import json
import re

import pytest

from cnn_demo.applications.detection import DEFAULT_DETECTOR, DETECTORS, detector_info
from cnn_demo.weights import weights_available
from tests.conftest import app_test, assert_no_exception, shown_errors

PAGE = "app_pages/applications/detection.py"


def texts(at) -> str:
    """Everything the page says in words: markdown, captions, notices, code, labels of buttons."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [c.value for c in at.code]
    parts += [str(e.value) for kind in ("info", "warning", "error", "success") for e in at.get(kind)]
    parts += [b.proto.label for b in at.get("download_button")]
    parts += [im.caption for c in at.get("image") for im in c.proto.imgs]
    return " ".join(parts)


def charts(at) -> dict[str, dict]:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def chart(at, key: str) -> dict:
    return next(spec for cid, spec in charts(at).items() if key in cid)


def n_faces(at) -> int:
    return int(re.search(r"\*\*(\d+) faces?\*\*", texts(at)).group(1))


def open_tab(at, label: str):
    at.session_state["faces_stage"] = label
    return at.run()


def test_faces_are_the_default_offline_and_the_cascade_is_shown(fresh_install):
    at = app_test(PAGE)
    assert_no_exception(at)
    assert at.selectbox(key="detection_model").value == "mtcnn"
    assert at.selectbox(key="detection_sample").value.startswith("Group:")
    said = texts(at)
    assert "faces — MTCNN" in said and "MTCNN (pretrained" in said and "Untrained" not in said
    found = n_faces(at)
    assert found >= 4
    assert [r["face"] for r in at.dataframe[0].value.to_dict("records")] == list(range(1, found + 1))
    assert [b.proto.label for b in at.get("download_button")] == ["Faces (PNG)", "Faces (JSON)"]
    funnel = chart(at, "faces_funnel")["data"][0]
    counts = [int(t.replace(",", "")) for t in funnel["text"]][::-1]
    assert counts == sorted(counts, reverse=True) and counts[-1] == found
    # 1. the pyramid (open by default)
    levels = at.dataframe[1].value
    assert len(levels) >= 5 and list(levels["windows"]) == sorted(levels["windows"], reverse=True)
    # 2. P-Net's map per level; the window checked alone equals its cell
    open_tab(at, "2. P-Net: a sliding classifier")
    assert_no_exception(at)
    first = chart(at, "faces_pnet_fig")
    said = texts(at)
    in_map, alone = (float(x) for x in re.findall(r"\*\*(0\.\d{4}|1\.0000)\*\*", said)[:2])
    assert abs(in_map - alone) < 1e-3
    at.slider(key="faces_level").set_value(3).run()
    assert_no_exception(at)
    assert chart(at, "faces_pnet_fig")["layout"] != first["layout"]  # another level's sizes
    assert "Level 3 is the photo at" in texts(at)
    at.slider(key="faces_level").set_value(8).run()
    at.slider(key="faces_min_size").set_value(60).run()  # fewer levels: the remembered level is clamped
    assert_no_exception(at)
    assert not at.warning and at.slider(key="faces_level").value == at.slider(key="faces_level").max < 8
    at.slider(key="faces_min_size").set_value(20).run()
    # 4. R-Net: its crops and its survivors; 6. NMS and landmarks
    open_tab(at, "4. R-Net")
    assert "What R-Net saw" in texts(at) and any(c.proto.imgs for c in at.get("image"))
    open_tab(at, "6. NMS, landmarks")
    kept = chart(at, "faces_nms_fig")
    assert f"kept ({found})" in [t.get("name") for t in kept["data"]]
    assert "left eye" in [t.get("name") for t in chart(at, "faces_landmarks_fig")["data"]]
    # One stage or two: a picture, with MTCNN's row shaded
    assert "detection_models_table" not in str(at.get("arrow_data_frame"))
    pipes = chart(at, "detection_pipelines_fig")
    assert any("P-Net" in a.get("text", "") for a in pipes["layout"]["annotations"])


def test_settings_change_the_faces_and_a_picture_without_faces_says_so(fresh_install):
    at = app_test(PAGE)
    before = n_faces(at)
    at.slider(key="faces_t3").set_value(0.99).run()  # a stricter O-Net keeps fewer
    assert n_faces(at) < before
    at.selectbox(key="detection_sample").set_value("chessboard").run()
    assert_no_exception(at)
    assert not shown_errors(at)
    assert n_faces(at) == 0
    assert any("No face found in this picture" in i.value for i in at.info)


@pytest.mark.parametrize("name", [d.name for d in DETECTORS])
def test_untrained_coco_detectors_show_their_architecture_and_no_box_or_score(name, fresh_install):
    """Without COCO weights nothing a random network scores reaches the student: no image with boxes, no table of
    detections, no download, no proposals or final boxes in a figure; no server paths or download steps."""
    from cnn_demo import weights

    at = app_test(PAGE)
    at.selectbox(key="detection_model").set_value(name).run()
    assert_no_exception(at)
    said = texts(at)
    assert "Architecture only." in said
    assert not at.get("download_button")
    assert not [c for c in at.get("image") if c.proto.imgs]  # no picture drawn by the detector
    tables = [df.value for df in at.dataframe]
    assert len(tables) == 1 and list(tables[0].columns) == ["part", "parameters", "what it does"]
    assert tables[0]["parameters"].iloc[-1] == tables[0]["parameters"].iloc[:-1].sum() > 1_000_000
    figs = charts(at)
    assert all(any(k in cid for k in ("anchors", "pipelines", "iou")) for cid in figs), list(figs)
    names = " ".join(t.get("name", "") for spec in figs.values() for t in spec["data"])
    hover = json.dumps([t.get("text") for spec in figs.values() for t in spec["data"]])
    assert "proposals" not in names and "final" not in names and "objectness" not in hover and "score" not in hover
    for bad in ("UNTRAINED", "weights fetch", "pip install", ".pth", "torch hub", "CNN_DEMO_WEIGHTS_DIR"):
        assert bad not in said, bad
    assert str(weights.weights_dir()) not in said and str(weights.hub_dir()) not in said


@pytest.fixture
def coco_weights_injected(monkeypatch):
    """The page's pretrained branch on seeded random weights standing in for COCO's (which cannot be had here)."""
    from streamlit import cache_data

    from cnn_demo.models import calibrate_batchnorm, sources
    from cnn_demo.ui import models

    def fake_load(model, entry, **kwargs):
        calibrate_batchnorm(model.backbone)
        return model

    monkeypatch.setattr(sources, "load_pretrained", fake_load)
    monkeypatch.setattr(models, "weights_state", lambda name: models.WeightsState(True))
    yield
    models._shared.clear()
    cache_data.clear()


def test_with_coco_weights_the_detectors_behave_as_before(coco_weights_injected):
    at = app_test(PAGE)
    assert_no_exception(at)
    assert at.selectbox(key="detection_model").value == "fasterrcnn_mobilenet_v3_large_320_fpn"  # the default
    assert "Architecture only" not in texts(at)
    at.slider(key="detection_score").set_value(0.05).run()
    many = int(re.search(r"\*\*(\d+) objects\*\*", texts(at)).group(1))
    assert 10 < many < 100 and "from 1000 raw candidates" in texts(at)
    at.slider(key="detection_iou").set_value(0.2).run()
    assert int(re.search(r"\*\*(\d+) objects\*\*", texts(at)).group(1)) < many
    at.number_input(key="detection_max").set_value(3).run()
    table = at.dataframe[0].value
    assert len(table) == 3 and not any(c.startswith("UNTRAINED") for c in table["class"])
    top_class = table["class"].iloc[0]
    at.number_input(key="detection_max").set_value(100).run()
    at.multiselect(key="detection_classes").set_value([top_class]).run()
    assert set(at.dataframe[0].value["class"]) == {top_class}
    assert [b.proto.label for b in at.get("download_button")] == ["Annotated image (PNG)", "Detections (COCO JSON)"]
    at.slider(key="detection_topk").set_value(7).run()
    assert "proposals (7)" in [t.get("name", "") for t in chart(at, "detection_props_fig")["data"]]
    at.selectbox(key="detection_level").set_value(2).run()
    assert_no_exception(at)
    pipes = chart(at, "detection_pipelines_fig")
    shaded = [s for s in pipes["layout"]["shapes"] if s.get("fillcolor") == "#fff5cc"]
    assert len(shaded) == 1 and shaded[0]["y0"] > 1  # the top row: two stages


def test_the_page_builds_its_detector_once_for_every_rerun(coco_weights_injected, monkeypatch):
    """Networks are cached by the UI (``st.cache_resource``), not by module-level caches: sliders never rebuild."""
    from cnn_demo.applications.detection import networks
    from cnn_demo.ui import models

    built: list[str] = []
    create = networks.create

    def counted(name, *args, **kwargs):
        built.append(name)
        return create(name, *args, **kwargs)

    monkeypatch.setattr(networks, "create", counted)
    models._shared.clear()
    at = app_test(PAGE)
    at.slider(key="detection_score").set_value(0.05).run()
    at.slider(key="detection_iou").set_value(0.2).run()
    assert_no_exception(at)
    assert built == [DEFAULT_DETECTOR]


@pytest.mark.pretrained
@pytest.mark.skipif(not weights_available(detector_info(DEFAULT_DETECTOR).weights_entry), reason="COCO weights absent")
def test_with_real_coco_weights_the_page_opens_on_faster_rcnn_and_finds_the_cat():
    at = app_test(PAGE)
    assert at.selectbox(key="detection_model").value == DEFAULT_DETECTOR
    at.selectbox(key="detection_sample").set_value("chelsea").run()
    assert_no_exception(at)
    assert "cat" in set(at.dataframe[0].value["class"])
    assert "Architecture only" not in texts(at)


def test_the_face_sliders_write_their_value_back_only_when_it_leaves_the_range(monkeypatch) -> None:
    """A write to a widget's state sends the value to the browser: written on every run, it undid an arrow key the
    student pressed while the page was still drawing (the slider jumped back a level)."""
    from types import SimpleNamespace
    from typing import ClassVar

    from cnn_demo.ui import faces as faces_ui

    class State(dict):
        writes: ClassVar[list[tuple[str, int]]] = []

        def __setitem__(self, key: str, value: int) -> None:
            self.writes.append((key, value))
            super().__setitem__(key, value)

    state = State(faces_level=2)
    monkeypatch.setattr(faces_ui, "st", SimpleNamespace(session_state=state))
    container = SimpleNamespace(slider=lambda label, low, high, *default, key: state.get(key, *default))
    assert faces_ui._slider(container, "Pyramid level", 0, 5, 0, "faces_level") == 2
    assert state.writes == []
    state["faces_level"] = 9
    state.writes.clear()
    assert faces_ui._slider(container, "Pyramid level", 0, 5, 0, "faces_level") == 5
    assert state.writes == [("faces_level", 5)]
