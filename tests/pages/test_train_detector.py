"""AppTests of the 'Train a person detector' page: the data report, uploads good and broken, the job's curves and
proposals, and the trained detector on a photo."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import torch

from cnn_demo import jobs
from cnn_demo.applications import person_detector as pd
from cnn_demo.data import boxes
from tests.conftest import app_test, assert_no_exception, shown_errors

PAGE = "app_pages/applications/train_detector.py"


def texts(at) -> str:
    return " ".join(m.value for m in at.markdown)


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def small_jobs(monkeypatch):
    """Jobs train on 10 photos of the people sample at 160 px, so a test runs one in seconds."""
    torch.set_num_threads(1)
    full = boxes.load_people_sample
    sample = full()
    people = [i for i, b in enumerate(sample.boxes) if 0 < len(b) <= 4][:8]
    nobody = [i for i, b in enumerate(sample.boxes) if not len(b)][:2]
    monkeypatch.setattr(pd.job, "load_people_sample", lambda: full().subset(sorted(people + nobody)))
    real = pd.job.config_from_params
    monkeypatch.setattr(pd.job, "config_from_params", lambda params: real({**params, "size": 160}))


def test_page_shows_the_sample_the_warning_and_trains(state_dir, small_jobs):
    at = app_test(PAGE)
    assert_no_exception(at)
    assert "A weak detector, trained on a few photos" in at.warning[0].value
    assert "128 photos read, **254 person boxes**" in texts(at)
    at.slider(key="detector_epochs").set_value(2)
    at.button(key="detector_train").click().run()
    job_id = at.session_state["detector_job"]
    assert jobs.run_job(job_id) == "done"
    at.run()
    assert_no_exception(at)
    assert "After epoch 2: **AP50" in texts(at) and "(untrained heads:" in texts(at)
    assert at.select_slider(key="detector_view_epoch").value == 2
    assert at.select_slider(key="detector_view_epoch").options == ["0", "1", "2"]
    spec = json.loads(next(c for c in at.get("plotly_chart") if "detector_proposals" in c.proto.id).proto.spec)
    names = [t.get("name", "") for t in spec["data"]]
    assert "RPN proposals (15)" in names
    assert re.search(r"After epoch 2: the RPN's 50 best proposals reach \*\*\d+ of the \d+ people\*\*", texts(at))
    losses = json.loads(next(c for c in at.get("plotly_chart") if "detector_losses" in c.proto.id).proto.spec)
    # The legend names the losses in words, not by torchvision's keys.
    assert [t["name"] for t in losses["data"]] == [
        "RPN: objectness", "RPN: box", "head: person or background", "head: box", "all four"
    ]  # fmt: skip
    assert any(n.startswith("true person boxes") for n in names)
    # Section 3: the trained detector on a sample photo.
    assert "3. Your photo" in [h.value for h in at.header]
    captions = [im.caption for c in at.get("image") for im in c.proto.imgs]
    assert any(re.search(r"\b(1 person box|\d+ person boxes) scoring at least 0\.50", c) for c in captions), captions
    at.slider(key="detector_photo_thr").set_value(0.05).run()
    assert_no_exception(at)


def zipped(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def unzipped(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def upload(at, data: bytes, name: str = "labels.zip"):
    at.file_uploader(key="detector_zip").set_value((name, data, "application/zip")).run()
    assert_no_exception(at)
    return at


def test_a_good_upload_reports_what_was_read_and_left_out(state_dir):
    sample = boxes.load_people_sample()
    idx = [i for i, b in enumerate(sample.boxes) if len(b)][:4]
    files = unzipped(boxes.to_zip(sample.subset(idx), "yolo"))
    first = next(n for n in files if n.startswith("labels/"))
    files[first] = files[first] + b"0 0.5 0.5 -0.1 0.2\n7 0.5 0.5 0.1 0.1\n"
    at = app_test(PAGE)
    at.radio(key="detector_data").set_value("upload").run()
    upload(at, zipped(files))
    assert "**YOLO txt**: 4 photos read" in texts(at)
    warning = re.sub(r"\\(.)", r"\1", " ".join(w.value for w in at.warning))
    assert "box with negative or zero size: 1" in warning and "unknown class: 1" in warning
    assert any("Ready to train: 4 photos" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert set(table["problem"]) == {"box with negative or zero size", "unknown class"}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"annotations.json": "{not json", "images/a.jpg": b"x"}, "is not valid JSON"),
        ({"labels/a.txt": "0 0.5 0.5 0.2 0.2\n", "images/a.jpg": b"x"}, "no classes file"),
        ({"photo.jpg": b"x"}, "No box labels found in this zip"),
    ],
)
def test_a_broken_upload_is_a_clear_message_and_nothing_is_submitted(state_dir, files, message):
    at = app_test(PAGE)
    at.radio(key="detector_data").set_value("upload").run()
    upload(at, zipped(files))
    assert any(message in e for e in shown_errors(at)), shown_errors(at)
    at.button(key="detector_train").click().run()
    assert_no_exception(at)
    assert "detector_job" not in at.session_state
    assert any("Upload a zip of labelled photos" in w.value for w in at.warning)


def test_an_upload_without_person_boxes_says_which_classes_it_found(state_dir):
    sample = boxes.load_people_sample()
    idx = [i for i, b in enumerate(sample.boxes) if len(b)][:3]
    files = unzipped(boxes.to_zip(sample.subset(idx), "voc"))
    data = zipped({n: d.replace(b"<name>person</name>", b"<name>cyclist</name>") for n, d in files.items()})
    at = app_test(PAGE)
    at.radio(key="detector_data").set_value("upload").run()
    upload(at, data)
    assert any("the labels name cyclist" in e for e in shown_errors(at)), shown_errors(at)
    assert not at.success
