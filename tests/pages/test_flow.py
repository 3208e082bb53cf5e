"""One flow through the app (issue 23): what a student chose or uploaded on one page is there on the next."""

from __future__ import annotations

import pytest

from cnn_demo.data.datasets import example_zip
from tests.conftest import app_test, assert_no_exception

DATASETS = "app_pages/models/datasets.py"
FINETUNE = "app_pages/models/finetune.py"


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    return tmp_path


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_the_dataset_checked_on_datasets_is_the_one_finetune_opens_with():
    at = app_test(DATASETS)
    at.file_uploader(key="datasets_zip").set_value(("textures.zip", example_zip(), "application/zip")).run()
    assert_no_exception(at)
    at.toggle(key="datasets_use_given").set_value(False).run()
    at.slider(key="datasets_val_fraction").set_value(0.5).run()
    assert any("Fine-tune" in s.value for s in at.success)

    at.switch_page(FINETUNE).run()
    assert_no_exception(at)
    source = at.radio(key="finetune_data_source")
    assert source.options[0] == "The dataset you checked" and source.value == "The dataset you checked"
    assert "no need to upload it again" in captions(at)
    assert {m.label: m.value for m in at.metric}["Images"] == "36"
    # the split chosen there (validation share 0.5, no given folders) is where the split starts here
    assert at.toggle(key="finetune_split_use_given").value is False
    assert at.slider(key="finetune_split_val_fraction").value == 0.5
    assert not at.button(key="finetune_submit").disabled


def test_a_builtin_dataset_carries_over_and_the_other_sources_stay():
    at = app_test(DATASETS)
    at.radio(key="datasets_source").set_value("Built-in dataset").run()
    at.selectbox(key="datasets_builtin").set_value("faces").run()
    assert_no_exception(at)
    shown = {m.label: m.value for m in at.metric}
    at.switch_page(FINETUNE).run()
    assert_no_exception(at)
    assert at.radio(key="finetune_data_source").value == "The dataset you checked"
    assert {m.label: m.value for m in at.metric}["Images"] == shown["Images"]
    assert "**faces" in captions(at) or "faces" in captions(at).lower()
    at.radio(key="finetune_data_source").set_value("Upload a zip").run()
    assert_no_exception(at)
    assert at.button(key="finetune_submit").disabled  # nothing uploaded on this source


def test_without_a_checked_dataset_finetune_offers_the_usual_sources():
    at = app_test(FINETUNE)
    assert at.radio(key="finetune_data_source").options == ["Upload a zip", "Build in the page", "Built-in dataset"]


def png_bytes(seed: int, size=(40, 30)) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_photo_uploaded_once_is_offered_on_every_image_page():
    at = app_test("app_pages/images/pixels.py")
    at.radio(key="pixels_source").set_value("Upload").run()
    at.file_uploader(key="pixels_upload").set_value(("my cat.png", png_bytes(1), "image/png")).run()
    assert_no_exception(at)
    assert "Offered under *Your photos*" in captions(at)
    assert at.radio(key="pixels_source").value == "Upload"  # the page it was uploaded on stays on the upload

    at.switch_page("app_pages/images/filtering.py").run()
    assert_no_exception(at)
    source = at.radio(key="images_filtering_source")
    assert source.options == ["Sample", "Your photos", "Upload"] and source.value == "Your photos"
    assert at.selectbox(key="images_filtering_mine").options == ["my cat.png"]
    assert "my cat\\.png, uploaded earlier in this visit: 40×30 pixels" in captions(at)

    at.switch_page("app_pages/models/feature_maps.py").run()
    assert_no_exception(at)
    assert at.radio(key="feature_maps_source").value == "Your photos"
    at.button(key="feature_maps_forget").click().run()
    assert_no_exception(at)
    assert at.radio(key="feature_maps_source").options == ["Sample", "Upload"]


def test_kept_photos_are_bounded_newest_first_and_deduplicated():
    from streamlit.testing.v1 import AppTest

    def app():
        import streamlit as st

        from cnn_demo.ui import picker

        for i in [*range(picker.MAX_PHOTOS + 2), 3]:  # 8 photos, then the fourth again
            picker.remember_photo(f"p{i}.png", bytes([i]) * 100)
        too_big = picker.remember_photo("huge.png", b"x" * (picker.MAX_PHOTO_BYTES + 1))
        st.text(" ".join(name for _, name, _ in picker.your_photos()) + f" {too_big}")

    at = AppTest.from_function(app).run()
    assert_no_exception(at)
    assert at.text[0].value == "p3.png p7.png p6.png p5.png p4.png p2.png False"


def walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def first_index(at, predicate) -> int:
    return next(i for i, node in enumerate(walk(at._tree)) if predicate(node))


def is_text(node, text: str) -> bool:
    return text in str(getattr(node, "value", "") or "")


def queued_finetune(owner: str) -> str:
    from cnn_demo import jobs

    return jobs.submit("finetune", {"config": {"backbone": "myconvnet", "pretrained": False}}, owner)


def open_as(owner: str, page: str, job: str | None = None):
    at = app_test()
    at.session_state["jobs_owner"] = owner
    at.switch_page(page)
    if job:
        at.query_params["job"] = job
    return at.run()


@pytest.mark.parametrize(
    ("page", "heading"),
    [(FINETUNE, "1. Data"), ("app_pages/applications/unet.py", "Architecture and tensor shapes")],
)
def test_a_job_link_opens_with_the_jobs_panel_at_the_top(page, heading):
    owner = "session-" + "a" * 32
    kind = "finetune" if page == FINETUNE else "unet_train"
    from cnn_demo import jobs

    job = jobs.submit(kind, {"config": {}}, owner)
    at = open_as(owner, page, job)
    assert_no_exception(at)
    panel = first_index(at, lambda n: is_text(n, "Waiting in the queue"))
    assert panel < first_index(at, lambda n: is_text(n, heading))
    assert "Your job" in [s.value for s in at.subheader]
    assert "This job's panel is at the top of the page" in captions(at)


def test_a_job_submitted_on_the_page_keeps_its_panel_under_the_train_button():
    at = open_as("session-" + "b" * 32, FINETUNE)
    at.radio(key="finetune_data_source").set_value("Built-in dataset").run()
    at.selectbox(key="finetune_data_builtin").set_value("faces").run()
    at.selectbox(key="finetune_backbone").set_value("myconvnet").run()
    at.button(key="finetune_submit").click().run()
    assert_no_exception(at)
    assert "Your job" not in [s.value for s in at.subheader]
    panel = first_index(at, lambda n: is_text(n, "Waiting in the queue"))
    assert panel > first_index(at, lambda n: is_text(n, "3. Train"))


def test_someone_elses_job_link_puts_the_recovery_code_form_at_the_top():
    job = queued_finetune("somebody-else")
    at = open_as("session-" + "c" * 32, FINETUNE, job)
    assert_no_exception(at)
    assert "Your job" in [s.value for s in at.subheader]
    form = first_index(at, lambda n: getattr(n, "label", None) == "Recovery code")
    assert form < first_index(at, lambda n: is_text(n, "1. Data"))


def test_confidence_threshold_from_the_correct_validation_images():
    import numpy as np

    from cnn_demo import finetune

    rng = np.random.default_rng(0)
    top = rng.uniform(0.8, 1.0, 400)
    probs = np.stack([top, 1 - top], axis=1)
    labels = np.zeros(400, dtype=int)
    labels[:10] = 1  # ten mistakes: their (high) top probabilities must not count
    expected = np.quantile(top[10:], 0.05)
    assert finetune.confidence_threshold(probs, labels) == pytest.approx(expected)
    assert 0.80 < expected < 0.82
    assert finetune.fallback_threshold(2) == pytest.approx(0.75) and finetune.fallback_threshold(4) == 0.625
    assert finetune.confidence_threshold(probs[:5], labels[:5]) == 0.75  # too few correct images: the fallback
    sure = np.tile([1.0, 0.0], (50, 1))
    assert finetune.confidence_threshold(sure, np.zeros(50, dtype=int)) == 0.99  # capped
    assert finetune.looks_unfamiliar(np.array([0.7, 0.3]), 0.81)
    assert not finetune.looks_unfamiliar(np.array([0.9, 0.1]), 0.81)


@pytest.fixture
def trained(state):
    """The fine-tuning page of a student whose small job (faces, MyConvNet, 2 epochs) has finished."""
    from cnn_demo import jobs

    owner = "session-" + "d" * 32
    at = open_as(owner, FINETUNE)
    at.radio(key="finetune_data_source").set_value("Built-in dataset").run()
    at.selectbox(key="finetune_data_builtin").set_value("faces").run()
    at.selectbox(key="finetune_backbone").set_value("myconvnet").run()
    at.number_input(key="finetune_epochs").set_value(2).run()
    at.button(key="finetune_submit").click().run()
    job = at.query_params["job"]
    job = job[0] if isinstance(job, list) else job
    assert jobs.run_job(job) == "done"
    at.run()
    assert_no_exception(at)
    return at, owner, job


def test_predict_says_when_a_photo_looks_like_none_of_the_classes(trained, monkeypatch):
    import numpy as np

    from cnn_demo import finetune, jobs

    at, owner, job = trained
    photo = png_bytes(7, (64, 64))
    at.file_uploader(key="finetune_predict_upload").set_value([("bear.png", photo, "image/png")]).run()
    assert_no_exception(at)
    assert any("must call any photo one of them" in c.value for c in at.caption)
    # the page's threshold is the one the job's validation images give, and it decides the warning
    with np.load(jobs.job_file(job, owner, "val.npz")) as z:
        threshold = finetune.confidence_threshold(z["probs"], z["labels"])
    model = finetune.load_export(jobs.job_file(job, owner, "model.zip").read_bytes())
    ((_, _, probs),) = finetune.predict_files(model, [("bear.png", photo)])
    warned = [w.value for w in at.warning if "none of the 2 classes" in w.value]
    assert bool(warned) == (probs.max() < threshold)

    # both ways, whatever this tiny model says about the photo
    monkeypatch.setattr(finetune, "confidence_threshold", lambda *a, **k: 0.9999)
    at.run()
    (warning,) = [w.value for w in at.warning if "none of the 2 classes" in w.value]
    assert "less than 100%" in warning and "validation photos it classified correctly" in warning
    monkeypatch.setattr(finetune, "confidence_threshold", lambda *a, **k: 0.01)
    at.run()
    assert not [w.value for w in at.warning if "none of the 2 classes" in w.value]


def test_an_uploaded_model_uses_the_halfway_threshold(trained):
    from cnn_demo import jobs

    at, owner, job = trained
    at.file_uploader(key="finetune_model_upload").set_value(
        ("model.zip", jobs.job_file(job, owner, "model.zip").read_bytes(), "application/zip")
    ).run()
    at.file_uploader(key="finetune_predict_upload").set_value([("x.png", png_bytes(8, (64, 64)), "image/png")]).run()
    assert_no_exception(at)
    assert any("must call any photo one of them" in c.value for c in at.caption)
    from cnn_demo.ui import finetune as ui_finetune

    class Two:
        class_names = ("a", "b")

    assert ui_finetune.unfamiliar_threshold(Two(), None) == (0.75, "halfway between guessing (1 in 2) and certainty")


def test_publish_then_another_student_sees_it_read_only_and_the_owner_unpublishes(trained, monkeypatch):
    import sys
    import types

    from cnn_demo.jobs import gallery

    at, owner, job = trained
    assert "Share with your class" in [s.value for s in at.subheader]
    at.text_input(key="gallery_name").set_value("Ada <b>L</b>")
    at.checkbox(key="gallery_model").check()
    at.button(key="FormSubmitter:gallery_publish_form-Publish to the class gallery").click().run()
    assert_no_exception(at)
    assert any("Published to the class gallery" in s.value for s in at.success)

    other = open_as("session-" + "e" * 32, "app_pages/classroom/gallery.py")
    assert_no_exception(other)
    (table,) = [d.value for d in other.dataframe]
    assert list(table["student"]) == ["Ada <b>L</b>"]
    assert other.get("download_button")  # the model was shared
    keys = {b.key for b in other.button}
    assert "gallery_page_unpublish" not in keys and "gallery_hide" not in keys  # neither publisher nor teacher
    assert any("Ada \\<b\\>L\\</b\\>" in s.value for s in other.subheader)  # user text stays text

    teacher = types.ModuleType("cnn_demo.ui.teacher")
    teacher.is_teacher = lambda: True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cnn_demo.ui.teacher", teacher)
    other.run()
    other.button(key="gallery_hide").click().run()
    assert_no_exception(other)
    assert gallery.published() == [] and any("Nothing published" in i.value for i in other.info)
    gallery.hide(job, hidden=False)

    mine = open_as(owner, "app_pages/classroom/gallery.py")
    mine.button(key="gallery_page_unpublish").click().run()
    assert_no_exception(mine)
    assert gallery.published() == []
