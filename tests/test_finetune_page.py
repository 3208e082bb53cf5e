"""AppTest of the fine-tuning page: settings change what is shown, a submitted job is listed, and results appear."""

from __future__ import annotations

import pytest

from cnn_demo import jobs
from tests.conftest import app_test, assert_no_exception

PAGE = "pages/finetune.py"


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    return tmp_path


def texts(at) -> str:
    return " ".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [c.value for c in at.code]
        + [str(m.label) + str(m.value) for m in at.metric]
    )


def choose_small_setup(at):
    at.radio(key="finetune_data_source").set_value("Built-in dataset").run()
    at.selectbox(key="finetune_data_builtin").set_value("faces").run()
    at.selectbox(key="finetune_backbone").set_value("myconvnet").run()
    at.number_input(key="finetune_epochs").set_value(2).run()
    assert_no_exception(at)


def test_settings_drive_the_page_and_a_job_runs_to_results(state):
    at = app_test(PAGE)
    assert_no_exception(at)
    assert at.title[0].value == "Fine-tune a model on your images"
    choose_small_setup(at)
    assert "160 training and 40 validation images" in texts(at)
    assert "trains from scratch" in texts(at)  # myconvnet has no pretrained weights
    at.radio(key="finetune_head").set_value("mlp").run()
    at.select_slider(key="finetune_hidden").set_value(64).run()
    assert "Linear(in_features=128, out_features=64" in texts(at)
    at.checkbox(key="finetune_flip").check().run()
    assert_no_exception(at)
    assert any("view 1" in str(i.caption) for i in at.get("imgs")) or "Augmentation preview" in [
        e.label for e in at.expander
    ]

    at.button(key="finetune_submit").click().run()
    assert_no_exception(at)
    job_id = at.query_params["job"][0] if isinstance(at.query_params["job"], list) else at.query_params["job"]
    owner = at.session_state["jobs_owner"]
    st = jobs.status(job_id, owner)
    assert st.state == "queued" and st.params["config"]["head"]["hidden"] == 64
    assert "Waiting in the queue" in texts(at)
    assert jobs.run_job(job_id) == "done"
    at.run()
    assert_no_exception(at)
    shown = texts(at)
    assert "Finished" in shown and "Validation accuracy" in shown
    assert f"{jobs.status(job_id, owner).result['val_accuracy']:.1%}" in shown
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(keys) >= 3  # curves, per-class accuracy, confusion matrix
    assert at.get("download_button")

    # A second run (partial fine-tuning) can be compared with the first.
    at.radio(key="finetune_strategy").set_value("partial").run()
    at.button(key="finetune_submit").click().run()
    second = at.query_params["job"]
    second = second[0] if isinstance(second, list) else second
    assert second != job_id
    assert jobs.run_job(second) == "done"
    at.run()
    assert_no_exception(at)
    assert at.selectbox(key="finetune_compare").value == job_id
    assert "Compare with another run" in [s.value for s in at.subheader]


def test_someone_elses_job_link_shows_nothing(state):
    at = app_test(PAGE)
    choose_small_setup(at)
    from cnn_demo import finetune

    data = finetune.ImageData(
        ["a", "b"],
        *[[finetune.Image.new("RGB", (32, 32))] * 2, [0, 1]],
        *[[finetune.Image.new("RGB", (32, 32))] * 2, [0, 1]],
    )
    other = jobs.submit(
        "finetune",
        {"config": {"backbone": "myconvnet", "pretrained": False}},
        "somebody-else",
        files={"data.zip": finetune.pack_data(data)},
    )
    at.query_params["job"] = other
    at.run()
    assert_no_exception(at)
    assert any("No job with this id belongs to you" in e.value for e in at.error)
    assert "Validation accuracy" not in texts(at)
