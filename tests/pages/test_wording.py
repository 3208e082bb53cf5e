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


def test_localization_boxes_show_on_a_shape_of_their_own_colour():
    """The true box is green and the shapes take any colour: on a green shape it disappeared. Each line now has
    dark edges, so the box stands out even where the picture is exactly its colour."""
    import numpy as np

    from cnn_demo.applications import localization as L

    for colour in (L.TRUE_COLOUR, L.PRED_COLOUR):
        image = np.zeros((16, 16, 3), np.uint8)
        image[:] = colour
        true_only = L.draw_boxes(image, [4, 4, 6, 6], scale=4)
        drawn = L.draw_boxes(image, [4, 4, 6, 6], [4, 4, 6, 6], scale=4)  # both boxes at rows/cols 16..40
        dark = (drawn == L.HALO_COLOUR).all(-1)
        # Every column the box spans crosses a dark edge at its top and bottom, every row one at its sides.
        assert dark[13:20, 16:40].any(0).all() and dark[37:44, 16:40].any(0).all()
        assert dark[16:40, 13:20].any(1).all() and dark[16:40, 37:44].any(1).all()
        assert (true_only == L.TRUE_COLOUR).all(-1)[16:18, 16:40].all()  # the coloured line itself is still there


def test_the_two_t_sliders_of_the_walkthroughs_say_which_does_what():
    """The 1-D convolution page had Streamlit's slider and the figure's slider for one t, both called "t"."""
    import json

    from tests.conftest import app_test, assert_no_exception

    for page, key, chart, label in (
        ("app_pages/signals/convolution.py", "signals_convolution_t", "signals_convolution_walk", "t of the sum"),
        ("app_pages/signals/correlation.py", "signals_correlation_lag", "signals_correlation_walk", "Lag t of the sum"),
    ):
        at = app_test(page)
        assert_no_exception(at)
        assert at.slider(key=key).label.startswith(label) and at.slider(key=key).label.endswith("written out below")
        spec = json.loads(next(c for c in at.get("plotly_chart") if chart in c.proto.id).proto.spec)
        assert spec["layout"]["sliders"][0]["currentvalue"]["prefix"] == "figure at t = "
        words = " ".join(m.value for m in [*at.markdown, *at.caption])
        assert "move only the figure" in words and "“figure at t =”" in words
