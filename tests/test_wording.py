"""Words and small layouts the issue found wrong: units, cut metrics, wrapped keys, invisible boxes, empty columns."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _accuracy_app(res: dict) -> None:
    from cnn_demo.ui.finetune import accuracy_metrics

    accuracy_metrics(res)


def test_accuracy_gaps_to_the_baseline_are_percentage_points():
    res = {
        "epochs": 10, "final_epoch": 10, "best_epoch": 8, "val_accuracy": 0.948, "best_val_accuracy": 0.948,
        "final_val_accuracy": 0.941, "baseline_val_accuracy": 0.542, "majority_class": "bees",
        "test_accuracy": 0.967, "baseline_test_accuracy": 0.517, "n_test": 60,
    }  # fmt: skip
    at = AppTest.from_function(_accuracy_app, kwargs={"res": res}).run()
    assert not at.exception
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Validation, best epoch (8), kept"] == "+40.6 pp vs. baseline"  # was "+40.6 % vs. baseline"
    assert deltas["Validation, final epoch (10)"] == "+39.9 pp vs. baseline"
    assert deltas["Test, held out (60 images)"] == "+45.0 pp vs. baseline"
    assert "**percentage points** (pp)" in at.markdown[0].value
