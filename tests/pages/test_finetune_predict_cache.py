"""AppTest: the fine-tuning page computes predictions and Grad-CAM once per model and images, not on each rerun."""

from __future__ import annotations

import pytest

from cnn_demo import finetune
from cnn_demo.ui import finetune as ui_finetune
from cnn_demo.ui.common import escape_markdown
from tests.conftest import app_test, assert_no_exception, shown_errors
from tests.hostile import png_bytes

PAGE = "app_pages/models/finetune.py"


def _model_zip(classes: list[str]) -> bytes:
    cfg = finetune.TrainConfig(backbone="myconvnet", pretrained=False)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    return finetune.export_zip(finetune.FineTuned(bb, finetune.build_head(bb.num_features, 2, cfg.head), classes, cfg))


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """Counts of the page's calls into the network: predictions and Grad-CAM."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    ui_finetune._predictions.clear()
    ui_finetune._gradcam.clear()
    counts = {"predict": 0, "gradcam": 0}
    predict, gradcam = finetune.predict_files, finetune.gradcam

    def counting_predict(model, files):
        counts["predict"] += 1
        return predict(model, files)

    def counting_gradcam(model, image, class_index=None):
        counts["gradcam"] += 1
        return gradcam(model, image, class_index)

    monkeypatch.setattr(finetune, "predict_files", counting_predict)
    monkeypatch.setattr(finetune, "gradcam", counting_gradcam)
    return counts


def _upload_model(at, blob: bytes) -> None:
    at.file_uploader(key="finetune_model_upload").set_value(("model.zip", blob, "application/zip")).run()
    assert_no_exception(at)
    assert not shown_errors(at)


def _upload_images(at, images: list[tuple[str, bytes]]) -> None:
    at.file_uploader(key="finetune_predict_upload").set_value([(n, d, "image/png") for n, d in images]).run()
    assert_no_exception(at)


def _charts(at) -> list:
    return [c for c in at.get("plotly_chart") if c.key and c.key.startswith("finetune_pred_")]


def test_a_rerun_with_the_same_model_and_images_does_not_predict_again(calls):
    at = app_test(PAGE)
    _upload_model(at, _model_zip(["cat", "dog"]))
    images = [("a.png", png_bytes(101, (40, 30))), ("b.png", png_bytes(102, (36, 36)))]
    _upload_images(at, images)
    assert calls["predict"] == 1 and len(_charts(at)) == 2
    specs = [c.proto.spec for c in _charts(at)]
    at.run()  # a rerun: nothing changed
    at.toggle(key="finetune_gradcam").set_value(True).run()  # another widget: a rerun with the same inputs
    assert_no_exception(at)
    assert calls["predict"] == 1, "the rerun predicted again"
    assert [c.proto.spec for c in _charts(at)] == specs  # the stored probabilities are shown
    assert calls["gradcam"] == 2
    at.run()
    at.radio(key="finetune_predict_source").set_value("Upload").run()
    assert (calls["predict"], calls["gradcam"]) == (1, 2), "a rerun computed Grad-CAM or predictions again"
    assert len([i for e in at.get("image") for i in e.captions if "Grad-CAM" in i]) == 2

    _upload_images(at, [*images, ("c.png", png_bytes(103, (30, 40)))])  # other images: predicted
    assert calls["predict"] == 2 and len(_charts(at)) == 3
    assert calls["gradcam"] == 3  # only the new image's Grad-CAM is computed


def test_another_model_with_the_same_images_predicts_again(calls):
    at = app_test(PAGE)
    images = [("a.png", png_bytes(201, (40, 30)))]
    _upload_model(at, _model_zip(["cat", "dog"]))
    _upload_images(at, images)
    assert calls["predict"] == 1
    _upload_model(at, _model_zip(["ant", "bee"]))  # same images, another model: not the stored answer
    assert calls["predict"] == 2
    assert "ant" in _charts(at)[0].proto.spec


def test_a_restored_model_states_its_figures_beside_the_baseline(tmp_path, monkeypatch):
    """An uploaded model.zip says what its export recorded: which epoch, the accuracy beside the majority-class
    baseline, the held-out test figure; an export without figures adds nothing (and hostile values are dropped)."""
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    cfg = finetune.TrainConfig(backbone="myconvnet", pretrained=False)
    bb = finetune.load_backbone("myconvnet", pretrained=False)
    model = finetune.FineTuned(bb, finetune.build_head(bb.num_features, 2, cfg.head), ["ants", "*bees*"], cfg)
    figures = {
        "val_accuracy": 0.948, "best_epoch": 8, "final_epoch": 10, "final_val_accuracy": 0.941,
        "best_val_accuracy": 0.948, "majority_class": "*bees*", "baseline_val_accuracy": 0.542,
        "test_accuracy": 0.967, "baseline_test_accuracy": 0.517, "n_test": 60,
    }  # fmt: skip
    at = app_test(PAGE)
    _upload_model(at, finetune.export_zip(model, figures))
    (caption,) = [c.value for c in at.caption if "Validation accuracy" in c.value]
    assert caption == escape_markdown(  # shown literally: the class name is the uploader's text
        "Validation accuracy 94.8% at its best epoch (8 of 10, the one kept), 94.1% after the final epoch; always "
        "answering “*bees*” scores 54.2% on the same images. Held-out test images: 96.7% (baseline 51.7%)."
    )
    hostile = {"val_accuracy": float("nan"), "best_val_accuracy": "1.0", "baseline_val_accuracy": True, "n_test": -3}
    assert finetune.read_metrics(hostile) == {} and finetune.read_metrics([1]) == {}
    assert finetune.read_metrics({"best_val_accuracy": 2.0, "val_accuracy": 0.5, "majority_class": "x" * 500}) == {
        "val_accuracy": 0.5,
        "majority_class": "x" * 100,
    }
    assert finetune.metrics_summary({"val_accuracy": 0.5}) == (
        "Validation accuracy 50.0% (this export recorded no majority-class baseline to compare it with)."
    )
    at.file_uploader(key="finetune_model_upload").set_value(("old.zip", _model_zip(["a", "b"]), "application/zip"))
    at.run()
    assert_no_exception(at)
    assert not [c for c in at.caption if "Validation accuracy" in c.value]


def test_predict_offers_the_photos_of_this_visit_and_keeps_its_own_uploads(calls):
    at = app_test("app_pages/images/pixels.py")
    at.radio(key="pixels_source").set_value("Upload").run()
    at.file_uploader(key="pixels_upload").set_value(("my cat.png", png_bytes(301, (40, 30)), "image/png")).run()
    at.switch_page(PAGE).run()
    _upload_model(at, _model_zip(["cat", "dog"]))
    source = at.radio(key="finetune_predict_source")
    assert source.options == ["Upload", "Your photos", "Camera"] and source.value == "Your photos"
    assert at.multiselect(key="finetune_predict_mine").options == ["my cat.png"]
    assert calls["predict"] == 1 and len(_charts(at)) == 1  # classified without a second upload
    assert escape_markdown("my cat.png") in [c for e in at.get("image") for c in e.captions]

    at.radio(key="finetune_predict_source").set_value("Upload").run()
    _upload_images(at, [("dog.png", png_bytes(302, (36, 36)))])
    assert at.radio(key="finetune_predict_source").value == "Upload"  # stays on the upload just made
    assert any("Offered under *Your photos*" in c.value for c in at.caption)
    at.switch_page("app_pages/images/filtering.py").run()
    assert_no_exception(at)
    assert at.selectbox(key="images_filtering_mine").options == ["dog.png", "my cat.png"]  # newest first
    at.switch_page(PAGE).run()
    _upload_model(at, _model_zip(["cat", "dog"]))  # the page's widgets were dropped while away
    at.button(key="finetune_predict_forget").click().run()
    assert_no_exception(at)
    assert at.radio(key="finetune_predict_source").value == "Your photos" and not at.multiselect
    assert any("are offered here" in i.value for i in at.info)  # nothing to choose now, and it says why
