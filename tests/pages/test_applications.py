"""AppTests of the Applications pages: change widgets, check what the pages show."""

from __future__ import annotations

import json
import re

import pytest

from cnn_demo import jobs
from tests.conftest import app_test, assert_no_exception


def texts(at) -> str:
    return " ".join(m.value for m in at.markdown)


def n_objects(at) -> int:
    return int(re.search(r"\*\*(\d+) objects\*\*", texts(at)).group(1))


def image_captions(at) -> str:
    return " ".join(c.proto.imgs[0].caption for c in at.get("image") if c.proto.imgs)


def image_captions_all(at) -> list[str]:
    return [im.caption for c in at.get("image") for im in c.proto.imgs]


def chart(at, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id).proto.spec)


def test_detection_page_iou_of_two_boxes():
    at = app_test("app_pages/applications/detection.py")
    for k, v in {"ax": 10, "ay": 10, "aw": 20, "ah": 20, "bx": 20, "by": 20, "bw": 20, "bh": 20}.items():
        at.slider(key=f"detection_{k}").set_value(v)
    at.run()
    # Hand-computed: overlap 10×10 = 100, union 400 + 400 - 100 = 700.
    assert "IoU = 100 / 700 = 0.143" in texts(at)
    at.slider(key="detection_bx").set_value(60).run()
    assert "IoU = 0 / 800 = 0.000" in texts(at)


def test_segmentation_page_clusters():
    """The networks of the page: tests/pages/test_segmentation.py."""
    at = app_test("app_pages/applications/segmentation.py")
    assert_no_exception(at)
    at.slider(key="segmentation_k").set_value(3).run()
    assert "3 clusters" in image_captions(at)
    at.slider(key="segmentation_spatial").set_value(2.0).run()
    assert "colour + position" in image_captions(at)


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_unet_page_shapes_and_training(state_dir):
    at = app_test("app_pages/applications/unet.py")
    assert_no_exception(at)
    assert len(at.dataframe[0].value) == 1 + 3 + 1 + 3 + 1
    at.slider(key="unet_depth").set_value(2).run()
    table = at.dataframe[0].value
    assert len(table) == 1 + 2 + 1 + 2 + 1
    assert list(table["height"]) == [128, 128, 64, 32, 64, 128, 128]
    at.select_slider(key="unet_size").set_value(32)
    at.slider(key="unet_epochs").set_value(2)
    at.slider(key="unet_train_depth").set_value(2)
    at.button(key="unet_train").click().run()
    job_id = at.session_state["unet_job"]
    assert "queue" in " ".join(str(p.proto) for p in at.get("progress"))
    assert jobs.run_job(job_id) == "done"  # what the worker process does
    at.run()
    assert_no_exception(at)
    assert "After epoch 2: **IoU" in texts(at)
    assert at.select_slider(key="unet_view_epoch").value == 2


def test_localization_page_training(state_dir):
    at = app_test("app_pages/applications/localization.py")
    assert_no_exception(at)
    at.slider(key="localization_epochs").set_value(1)
    at.select_slider(key="localization_ntrain").set_value(300)
    at.button(key="localization_train").click().run()
    assert jobs.run_job(at.session_state["localization_job"]) == "done"
    at.run()
    assert_no_exception(at)
    assert "After epoch 1: mean **IoU" in texts(at)
    assert image_captions(at).count("IoU") == 8


def _main_order(at) -> list:
    """The page's elements in the order they are drawn (depth first)."""
    out = []

    def walk(node):
        out.append(node)
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else ():
            walk(child)

    walk(at.main)
    return out[1:]


def test_unet_page_voc_objects_caption_and_colour_key(state_dir):
    at = app_test("app_pages/applications/unet.py")
    at.radio(key="unet_data").set_value("voc_sample").run()
    assert "IoU of the object classes stays near 0" in " ".join(c.value for c in at.caption)
    assert "21 classes from 12 training photos" in " ".join(c.value for c in at.caption)
    at.radio(key="unet_data").set_value("voc_objects").run()
    caption = " ".join(c.value for c in at.caption)
    assert "'object' class" in caption
    # The counts the captions give are those the job really uses (before: "11 photos train, 3 check"; it is 12/2).
    from cnn_demo.applications.unet import load_training_data

    data = load_training_data({"data": "voc_objects", "size": 32}, None)
    n_train, n_val = len(data.train_images), len(data.val_images)
    assert f"{n_train} photos train, {n_val} check" in caption and f"on the {n_val} check photos" in caption
    share = float((data.val_masks[data.val_masks != 255] == 1).mean())
    assert f"painting every pixel 'object' would score {share:.2f}" in caption
    at.select_slider(key="unet_size").set_value(32)
    at.slider(key="unet_epochs").set_value(2)
    at.slider(key="unet_train_depth").set_value(2)
    at.button(key="unet_train").click().run()
    assert jobs.run_job(at.session_state["unet_job"]) == "done"
    at.run()
    assert_no_exception(at)
    assert "**Colour key** (the classes in these masks)" in texts(at)
    key = json.loads(next(c for c in at.get("plotly_chart") if "unet_colour_key" in c.proto.id).proto.spec)
    names = [t.strip() for t in key["data"][0]["text"]]
    assert names[:2] == ["background", "object"]  # each name whole, beside its colour (it wrapped "backg/round")
    assert key["layout"]["width"] / 4 >= 40 + 8 * len("background")


@pytest.mark.parametrize(
    "page",
    [
        "app_pages/applications/detection.py",
        "app_pages/applications/segmentation.py",
        "app_pages/applications/localization.py",
    ],
)
def test_pictures_are_inline_so_a_quick_rerun_cannot_delete_them(page):
    """Streamlit deletes a run's media files when the next run ends; a picture fetched from /media after a quick
    second rerun is a 404 and a broken image. The pages send their pictures inside the message instead."""
    at = app_test(page)
    assert_no_exception(at)
    urls = [img.url for element in at.get("image") for img in element.proto.imgs]
    assert urls, "no picture on the page"
    assert all(u.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for u in urls), urls[:3]


def test_localization_predictions_slider_jumps_to_the_last_epoch_when_the_job_ends(state_dir):
    """Before: the "Predictions after epoch" slider stayed at the epoch it showed while the job ran (2 of 3)."""
    import os
    import socket
    import time

    at = app_test("app_pages/applications/localization.py")
    at.slider(key="localization_epochs").set_value(3)
    at.select_slider(key="localization_ntrain").set_value(300)
    at.button(key="localization_train").click().run()
    job_id = at.session_state["localization_job"]
    assert jobs.run_job(job_id) == "done"
    folder = state_dir / "jobs" / job_id
    done_status, all_preds = (folder / "status.json").read_text(), (folder / "predictions.json").read_text()
    # The same job as the page saw it after epoch 2, still running (a live worker's status and heartbeat).
    (folder / "predictions.json").write_text(json.dumps({k: v for k, v in json.loads(all_preds).items() if k != "3"}))
    running = {**json.loads(done_status), "state": "running", "done": 2, "finished": None}
    running.update(host=socket.gethostname(), pid=os.getpid(), run_started=time.time() - 5)
    (folder / "status.json").write_text(json.dumps(running))
    (folder / "heartbeat").touch()
    at.run()
    assert_no_exception(at)
    assert at.select_slider(key="localization_view_epoch").value == 2
    (folder / "predictions.json").write_text(all_preds)
    (folder / "status.json").write_text(done_status)
    at.run()
    assert_no_exception(at)
    assert at.select_slider(key="localization_view_epoch").value == 3
