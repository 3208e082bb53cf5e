"""The one builder of training curves (cnn_demo.viz.curves_figure) and the two figures drawn with it."""

from __future__ import annotations

from cnn_demo import viz
from cnn_demo.finetune import figures as ft_figures


def test_one_panel_and_side_by_side_panels():
    one = viz.curves_figure([viz.Curve("loss", [1, 2], [0.9, 0.5])], title="Loss")
    assert [(t.name, t.mode, list(t.y)) for t in one.data] == [("loss", "lines+markers", [0.9, 0.5])]
    assert one.layout.xaxis.title.text == "epoch" and one.layout.height == 300 and one.layout.margin.t == 30
    two = viz.curves_figure(
        [viz.Curve("a", [1, 2], [1.0, None]), viz.Curve("b", [1, 2], [0.2, 0.4], panel=2, line={"dash": "dot"})],
        panels=("Loss", "Accuracy"),
        y_ranges={2: (0, 1.02)},
    )
    assert [a.text for a in two.layout.annotations] == ["Loss", "Accuracy"]
    assert (two.data[0].xaxis, two.data[1].xaxis) == ("x", "x2") and two.data[1].line.dash == "dot"
    assert list(two.data[0].y) == [1.0, None]  # a missing value is a gap
    assert tuple(two.layout.yaxis2.range) == (0, 1.02) and two.layout.yaxis.range is None
    assert two.layout.xaxis.title.text == two.layout.xaxis2.title.text == "epoch"


def test_fine_tuning_and_application_curves_are_drawn_by_the_shared_builder():
    rows = [{"epoch": 1, "train_loss": 1.0, "val_accuracy": 0.4}, {"epoch": 2, "train_loss": 0.6, "val_accuracy": 0.6}]
    expected = viz.curves_figure(
        [
            viz.Curve("train loss", [1, 2], [1.0, 0.6], 1, {"color": "#1f77b4", "dash": "solid"}),
            viz.Curve("val accuracy", [1, 2], [0.4, 0.6], 2, {"color": "#d62728", "dash": "dot"}),
        ],
        panels=("Loss", "Accuracy"),
        y_ranges={2: (0, 1.02)},
        height=340,
        margin=dict(l=0, r=0, t=50, b=70),
        legend=dict(orientation="h", y=-0.3, x=0),
    )
    drawn = viz.curves_figure(ft_figures.history_curves(rows), **ft_figures.HISTORY_LAYOUT)
    assert drawn.to_dict() == expected.to_dict()
    unet_rows = [{"epoch": 1, "iou": 0.2}, {"epoch": 2, "loss": 0.5, "iou": 0.4}]
    expected = viz.curves_figure([viz.Curve("loss", [2], [0.5]), viz.Curve("iou", [1, 2], [0.2, 0.4])], title="Quality")
    drawn = viz.curves_figure(viz.metric_curves(unet_rows, ["loss", "iou", "absent"]), title="Quality")
    assert drawn.to_dict() == expected.to_dict()
    # Legend names in words where given, the key where not.
    named = viz.metric_curves(unet_rows, ["loss", "iou"], names={"iou": "IoU of person"})
    # Whole epochs get whole ticks (at most about 8 of them), other x values plotly's own.
    assert viz.curves_figure(named).layout.xaxis.dtick == 1
    assert viz.curves_figure([viz.Curve("loss", list(range(1, 41)), [1.0] * 40)]).layout.xaxis.dtick == 5
    assert viz.curves_figure([viz.Curve("loss", [0.5, 1.5], [1.0, 0.5])]).layout.xaxis.dtick is None
    drawn_named = [(c.name, list(c.x), list(c.y)) for c in named]
    assert drawn_named == [("loss", [2], [0.5]), ("IoU of person", [1, 2], [0.2, 0.4])]
