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
