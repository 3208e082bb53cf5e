"""Honest figures of fine-tuning: held-out test split, final vs best epoch, majority baseline, progress phases,
packing progress, dropping tiny classes, and the "predictions after epoch" slider that follows the training."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn_demo import finetune, weights
from cnn_demo.data import datasets
from cnn_demo.errors import InputError
from cnn_demo.finetune import ImageData, TrainConfig
from tests.finetune.test_finetune import make_images


def _dataset(counts: dict[str, int]) -> datasets.Dataset:
    """A dataset built from random PNGs, ``counts[name]`` of each class."""
    rng = np.random.default_rng(0)
    return datasets.build_dataset(
        [
            (name, [(f"{i}.png", _png(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))) for i in range(n)])
            for name, n in counts.items()
        ]
    )


def _png(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_split_holds_out_a_stratified_test_part():
    ds = _dataset({"a": 40, "b": 20})
    split = datasets.split_dataset(ds, val_fraction=0.2, seed=3, test_fraction=0.15)
    parts = [set(split.train.tolist()), set(split.val.tolist()), set(split.test.tolist())]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(map(len, parts)) == 60
    test_labels = ds.labels[split.test]
    assert (np.sum(test_labels == 0), np.sum(test_labels == 1)) == (6, 3)  # 15 % of each class
    no_test = datasets.split_dataset(ds, val_fraction=0.2, seed=3)
    assert len(no_test.test) == 0 and np.array_equal(no_test.val, split.val)  # the validation part is unchanged
    again = datasets.split_dataset(ds, val_fraction=0.2, seed=3, test_fraction=0.15)
    assert np.array_equal(again.test, split.test)
    with pytest.raises(InputError, match="test share"):
        datasets.split_dataset(ds, test_fraction=0.6)


def test_drop_classes_renumbers_and_rechecks():
    ds = _dataset({"a": 5, "tiny": 1, "b": 4})
    assert not ds.report.ok
    assert [c.name for c in datasets.too_small_classes(ds)] == ["tiny"]
    kept = datasets.drop_classes(ds, ["tiny"])
    assert kept.report.ok and kept.class_names == ("a", "b")
    assert sorted(np.bincount(kept.labels).tolist()) == [4, 5] and len(kept) == 9
    assert kept.report.warnings[0].startswith("Dropped for training: “tiny” (1 image(s))")
    assert all(not p.startswith("tiny") for p in kept.paths)


def test_majority_baseline_is_the_best_constant_answer():
    assert finetune.majority_baseline([0, 1, 1, 1]) == (1, 0.75)
    assert finetune.majority_baseline([2, 2, 0, 0]) == (0, 0.5)
    assert finetune.majority_baseline([]) == (0, 0.0)


@pytest.fixture(scope="module")
def trained():
    tr, ytr = make_images(8, 0)
    va, yva = make_images(4, 1)
    te, yte = make_images(3, 2)
    va, yva = va[:10], yva[:10]  # unbalanced validation: 4 red, 4 blue, 2 green
    data = ImageData(["red", "blue", "green"], tr, ytr, va, yva, te, yte)
    phases: list[tuple[str, int, int]] = []
    cfg = TrainConfig(backbone="myconvnet", pretrained=False, epochs=4, batch_size=8, lr=3e-3, image_size=32)
    result = finetune.train(data, cfg, on_phase=lambda *a: phases.append(a))
    return data, result, phases


def test_final_and_best_epoch_apart_with_baselines_and_test(trained):
    data, result, _ = trained
    report = finetune.accuracy_report(result, data)
    hist = result.history
    assert report["final_epoch"] == 4 and report["final_val_accuracy"] == hist[-1]["val_accuracy"]
    best = min(range(4), key=lambda i: hist[i]["val_loss"])
    assert result.best_epoch == best + 1 and report["best_val_accuracy"] == hist[best]["val_accuracy"]
    assert report["baseline_val_accuracy"] == pytest.approx(0.4) and report["majority_class"] == "red"
    assert report["n_test"] == 9 and report["baseline_test_accuracy"] == pytest.approx(1 / 3)
    kept = result.model.predict(list(data.test_images))
    assert report["test_accuracy"] == pytest.approx(float((kept.argmax(1) == np.array(data.test_labels)).mean()))
    assert 0.0 <= report["final_test_accuracy"] <= 1.0


def test_frozen_training_reports_its_feature_phase(trained):
    data, _, phases = trained
    features = [p for p in phases if p[0] == "features"]
    total = len(data.train_labels) + len(data.val_labels) + len(data.test_labels)
    assert features[0] == ("features", 0, total) and features[-1] == ("features", total, total)
    assert [d for _, d, _ in features] == sorted(d for _, d, _ in features)
    assert phases[-1] == ("epochs", 0, 4)  # once, before the first epoch


def test_pack_reports_progress_and_keeps_the_test_part():
    ds = _dataset({"a": 30, "b": 20})
    split = datasets.split_dataset(ds, seed=1, test_fraction=0.2)
    seen: list[tuple[int, int]] = []
    blob = finetune.pack_dataset(ds, split, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (50, 50) and len(seen) >= 3
    back = finetune.unpack_data(blob)
    assert len(back.test_labels) == len(split.test) == 10
    assert back.test_labels == [int(ds.labels[i]) for i in split.test]


def test_weights_dir_keeps_the_path_the_user_set(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "sub" / ".." / "link"))
    assert weights.weights_dir() == tmp_path / "link"
    # What the pages and the CLI say when a file is missing names that folder, not where the link points.
    message = weights.missing_message("fasterrcnn_mobilenet_v3_large_320_fpn")
    assert f"in the folder {tmp_path / 'link'} " in message and str(real) not in message


def _slider_app() -> None:
    import streamlit as st

    from cnn_demo.ui.epochs import epoch_slider

    job = st.session_state["job"]
    st.text(f"SHOWN {epoch_slider('Predictions after epoch', st.session_state['epochs'], 'p_view', job)}")


def _job(job_id: str, state: str):
    from cnn_demo import jobs

    return jobs.JobStatus(job_id, "unet_train", state, 0, 15, 0.0, None, None, None, None, [], None, None, {}, 0, [])


def _shown(at) -> int:
    return int(next(t.value for t in at.text if t.value.startswith("SHOWN")).split()[1])


def test_epoch_slider_follows_training_and_jumps_to_the_end():
    at = AppTest.from_function(_slider_app)
    at.session_state["job"], at.session_state["epochs"] = _job("a", "running"), [1, 2]
    at.run()
    assert _shown(at) == 2
    at.session_state["epochs"] = [1, 2, 3]
    at.run()
    assert _shown(at) == 3  # it stood on the newest epoch: it follows
    at.select_slider(key="p_view").set_value(1).run()
    at.session_state["epochs"] = [1, 2, 3, 4]
    at.run()
    assert _shown(at) == 1  # the user looks at epoch 1: it stays there while training goes on
    at.session_state["job"], at.session_state["epochs"] = _job("a", "done"), list(range(1, 16))
    at.run()
    assert _shown(at) == 15  # the job ended: the last epoch
    at.select_slider(key="p_view").set_value(5).run()
    at.run()
    assert _shown(at) == 5  # after the end, the user's choice holds
    at.session_state["job"], at.session_state["epochs"] = _job("b", "done"), [1, 2, 3]
    at.run()
    assert _shown(at) == 3  # another job: its last epoch
    assert not at.exception
