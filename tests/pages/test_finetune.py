"""AppTest of the fine-tuning page: settings change what is shown, a submitted job is listed, and results appear."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnn_demo import finetune, jobs
from tests.conftest import app_test, assert_no_exception, shown_errors

PAGE = "app_pages/models/finetune.py"


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
    assert "130 training and 40 validation images, 30 held out for the test" in texts(at)
    at.slider(key="finetune_split_test_fraction").set_value(0.0).run()
    assert "160 training and 40 validation images" in texts(at) and "held out" not in texts(at)
    at.slider(key="finetune_split_test_fraction").set_value(0.15).run()
    size_key = "finetune_image_size_myconvnet"
    own = finetune.describe_backbone("myconvnet")["input_size"]
    assert at.select_slider(key=size_key).value == own  # the default comes from the backbone's data config
    at.select_slider(key=size_key).set_value(48).run()
    assert "centre-crop to **48** px" in texts(at)
    assert "trains from scratch" in texts(at)  # myconvnet has no pretrained weights
    at.radio(key="finetune_head").set_value("mlp").run()
    at.select_slider(key="finetune_hidden").set_value(64).run()
    assert "Linear(in_features=128, out_features=64" in texts(at)
    at.checkbox(key="finetune_flip").check().run()
    assert_no_exception(at)
    views = [img for element in at.get("image") for img in element.proto.imgs if img.caption.startswith("view")]
    assert [v.caption for v in views] == [f"view {i}" for i in range(1, 9)]
    assert all(v.url.startswith("data:image/png;base64,") for v in views)  # inline: a quick rerun can't 404

    at.button(key="finetune_submit").click().run()
    assert_no_exception(at)
    job_id = at.query_params["job"][0] if isinstance(at.query_params["job"], list) else at.query_params["job"]
    owner = at.session_state["jobs_owner"]
    st = jobs.status(job_id, owner)
    assert st.state == "queued" and st.params["config"]["head"]["hidden"] == 64
    assert st.params["config"]["image_size"] == 48
    assert "Waiting in the queue" in texts(at)
    assert jobs.run_job(job_id) == "done"
    at.run()
    assert_no_exception(at)
    shown = texts(at)
    res = jobs.status(job_id, owner).result
    assert "Finished" in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Validation, final epoch (2)"] == f"{res['final_val_accuracy']:.1%}"
    assert metrics[f"Validation, best epoch ({res['best_epoch']}), kept"] == f"{res['val_accuracy']:.1%}"
    assert metrics["Majority-class baseline"] == f"{res['baseline_val_accuracy']:.1%}"
    assert res["baseline_val_accuracy"] == pytest.approx(0.5)  # faces: 20 + 20 validation images
    assert metrics["Test, held out (30 images)"] == f"{res['test_accuracy']:.1%}"
    assert res["n_test"] == 30 and res["baseline_test_accuracy"] == pytest.approx(0.5)
    assert "best epoch" in shown and "held-out test images" in shown
    # The live curves draw the baseline beside the validation accuracy, and the exported model carries the honest
    # figures too (before: config.json held a lone "val_accuracy", the best epoch's, with no baseline).
    curves = json.loads(next(c for c in at.get("plotly_chart") if "finetune_job_curves" in c.proto.id).proto.spec)
    baseline = next(t for t in curves["data"] if t.get("name") == "majority-class baseline (val)")
    assert set(baseline["y"]) == {res["baseline_val_accuracy"]}
    with zipfile.ZipFile(jobs.job_file(job_id, owner, "model.zip")) as zf:
        exported = json.loads(zf.read("config.json"))["metrics"]
    for k in ("best_epoch", "final_val_accuracy", "best_val_accuracy", "baseline_val_accuracy", "test_accuracy"):
        assert exported[k] == res[k], k
    assert exported["baseline_test_accuracy"] == pytest.approx(0.5) and exported["majority_class"]
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
    # Every table of accuracies says which epoch and shows the majority-class baseline beside it.
    honest = ["val, best epoch (kept)", "val, final epoch", "val, majority baseline", "test (held out)"]
    (compare,) = [d.value for d in at.dataframe if "run" in d.value.columns]
    assert set(honest) <= set(compare.columns) and "val accuracy" not in compare.columns
    assert list(compare["val, majority baseline"]) == [pytest.approx(0.5)] * 2
    (mine,) = [d.value for d in at.dataframe if "job" in d.value.columns]
    assert set(honest) <= set(mine.columns) and "accuracy" not in mine.columns
    for table in (d for d in at.dataframe if {"run", "job"} & set(d.value.columns)):  # shown as percentages
        config = json.loads(table.proto.columns)
        assert all(config[label]["type_config"]["format"] == "percent" for label in honest), config
    cmp = json.loads(next(c for c in at.get("plotly_chart") if "finetune_cmp_acc" in c.proto.id).proto.spec)
    assert [t["name"] for t in cmp["data"]].count("majority-class baseline") == 1  # one validation set, one line


def test_someone_elses_job_link_shows_nothing(state):
    at = app_test(PAGE)
    choose_small_setup(at)
    from cnn_demo import finetune

    data = finetune.ImageData(
        ["a", "b"],
        *[[Image.new("RGB", (32, 32))] * 2, [0, 1]],
        *[[Image.new("RGB", (32, 32))] * 2, [0, 1]],
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
    from cnn_demo.ui.jobs import NOT_YOURS_TAB  # AppTest has no browser cookie: jobs belong to the tab

    assert NOT_YOURS_TAB in [w.value for w in at.warning] and not shown_errors(at)
    assert "Validation accuracy" not in texts(at)


def select_points(at, chart_key: str, points: list[dict]):
    """Rerun as if the user had clicked ``points`` of the plotly chart with key ``chart_key``.

    AppTest has no plotly selection API, so the selection goes in the widget states of the run, as the browser
    sends it (JSON in ``string_value``; ``AppTest._run`` is the entry that takes widget states).
    """
    (chart,) = [c for c in at.get("plotly_chart") if chart_key in c.proto.id]
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    selection = {"points": points, "point_indices": [p.get("point_index", 0) for p in points], "box": [], "lasso": []}
    state.string_value = json.dumps({"selection": selection})
    return at._run(states)


def cell_text(at) -> str:
    return next(m.value for m in at.markdown if "validation image(s)" in m.value)


def cell_images(at) -> int:
    """How many images the chosen cell lists (the mistakes gallery has captions with an arrow)."""
    lists = [im.proto.imgs for im in at.get("image") if not any("→" in i.caption for i in im.proto.imgs)]
    return len(lists[0]) if lists else 0


def test_a_click_on_a_confusion_cell_lists_that_cells_images(state):
    at = app_test(PAGE)
    owner = at.session_state["jobs_owner"]
    rng = np.random.default_rng(0)
    names = ["ants", "bees", "wasps"]

    def images(n):
        return [Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)) for _ in range(n)]

    data = finetune.ImageData(names, images(9), [0, 1, 2] * 3, images(12), [0, 1, 2] * 4)
    config = {"backbone": "myconvnet", "pretrained": False, "epochs": 1, "batch_size": 8, "seed": 0}
    job_id = jobs.submit("finetune", {"config": config}, owner, files={"data.zip": finetune.pack_data(data)})
    assert jobs.run_job(job_id) == "done"
    val = np.load(jobs.job_file(job_id, owner, "val.npz"))
    predicted = val["probs"].argmax(1)
    at.query_params["job"] = job_id
    at.run()
    assert_no_exception(at)
    assert (at.selectbox(key="finetune_cell_true").value, at.selectbox(key="finetune_cell_pred").value) == (
        "ants",
        "ants",
    )

    # Every cell, in an order where each click changes the cell; together they hold all validation images.
    total = 0
    for t, p in [(1, 0), (2, 2), (0, 1), (2, 0), (1, 1), (0, 2), (1, 2), (2, 1), (0, 0)]:
        select_points(at, "finetune_confusion", [{"curve_number": 1, "point_index": 3 * t + p, "customdata": [t, p]}])
        assert_no_exception(at)
        assert at.selectbox(key="finetune_cell_true").value == names[t]
        assert at.selectbox(key="finetune_cell_pred").value == names[p]
        count = int(((val["labels"] == t) & (predicted == p)).sum())
        assert cell_text(at) == f"**{count} validation image(s)** of *{names[t]}* predicted as *{names[p]}*"
        assert cell_images(at) == count
        total += count
    assert total == len(val["labels"]) == 12

    # The select boxes still choose a cell, and the matrix outlines it.
    at.selectbox(key="finetune_cell_true").set_value("wasps").run()
    assert "of *wasps* predicted as *ants*" in cell_text(at)
    spec = json.loads(next(c for c in at.get("plotly_chart") if "finetune_confusion" in c.proto.id).proto.spec)
    (shape,) = spec["layout"]["shapes"]
    assert (shape["x0"], shape["y0"]) == (-0.5, 1.5)
    # A selection without a cell (another trace) changes nothing.
    select_points(at, "finetune_confusion", [{"curve_number": 0, "point_index": 0, "x": "ants", "y": "ants"}])
    assert_no_exception(at)
    assert "of *wasps* predicted as *ants*" in cell_text(at)


def test_submit_shows_packing_progress_at_once(state, monkeypatch):
    """The button answers at once with a progress bar while the images are handed to the job (before: a page
    frozen for 2.4-9.8 s). AppTest cannot look mid-run, so the packing stops half-way and what it showed stays."""
    from cnn_demo.errors import InputError

    real = finetune.pack_dataset

    def half_packed(ds, split, *, on_progress=None):
        n = len(split.train) + len(split.val) + len(split.test)
        assert on_progress is not None, "the page must pass a progress callback"
        real(ds, split, on_progress=lambda done, total: on_progress(done, total) if done <= n // 2 else None)
        raise InputError("stopped half-way by the test")

    at = app_test(PAGE)
    choose_small_setup(at)
    monkeypatch.setattr(finetune, "pack_dataset", half_packed)
    at.button(key="finetune_submit").click().run()
    bars = [(p.proto.text, p.proto.value) for p in at.get("progress") if "Handing" in p.proto.text]
    assert len(bars) == 1 and re.fullmatch(r"Handing the images to the job: \d+ of 200 packed", bars[0][0]), bars
    assert 0 < bars[0][1] <= 50
    assert shown_errors(at) == ["stopped half-way by the test"] and "job" not in at.query_params
