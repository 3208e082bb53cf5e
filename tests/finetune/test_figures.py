"""The confusion matrix figure of the fine-tuning page: every cell is a clickable point whose customdata names the
cell, and a selection event maps back to the (true, predicted) cell."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from cnn_demo.finetune.figures import CONFUSION_CELLS, confusion_cell, confusion_figure

CM = [[5, 1, 0], [2, 3, 1], [0, 0, 4]]
NAMES = ["ants", "bees", "wasps"]


def cells_trace(fig: go.Figure) -> go.Scatter:
    (trace,) = [t for t in fig.data if t.name == CONFUSION_CELLS]
    return trace


def test_every_cell_is_a_clickable_point_carrying_true_and_predicted():
    fig = confusion_figure(CM, NAMES)
    trace = cells_trace(fig)
    assert trace.type == "scatter" and "markers" in trace.mode
    points = list(zip(trace.y, trace.x, trace.customdata, trace.text, strict=True))
    assert len(points) == 9
    for true_name, pred_name, data, text in points:
        t, p = (int(v) for v in data)
        assert (NAMES[t], NAMES[p]) == (true_name, pred_name)
        assert text == str(CM[t][p])
    assert {tuple(d) for d in trace.customdata} == {(t, p) for t in range(3) for p in range(3)}
    # The whole cell is clickable: the nearest point is hovered (and so clicked) wherever the mouse is.
    assert fig.layout.hovermode == "closest" and fig.layout.hoverdistance == -1
    assert "select" in fig.layout.clickmode
    # The heatmap only paints the cells (row-normalised colour, counts as text) and takes no hover.
    heat = fig.data[0]
    assert heat.type == "heatmap" and heat.hoverinfo == "skip"
    assert [list(r) for r in heat.text] == [[str(v) for v in row] for row in CM]
    assert heat.z[2][2] == 1.0 and abs(heat.z[1][0] - 2 / 6) < 1e-12


def test_the_chosen_cell_is_outlined():
    assert not confusion_figure(CM, NAMES).layout.shapes
    (shape,) = confusion_figure(CM, NAMES, selected=(2, 0)).layout.shapes
    assert (shape.x0, shape.x1, shape.y0, shape.y1) == (-0.5, 0.5, 1.5, 2.5)
    assert not confusion_figure(CM, NAMES, selected=(3, 0)).layout.shapes


def test_a_mismatched_matrix_is_refused():
    with pytest.raises(ValueError, match="shape"):
        confusion_figure(CM, NAMES[:2])


def point(t, p, **extra):
    """A point as st.plotly_chart reports it for the cells trace."""
    return {"curve_number": 1, "point_index": 3 * t + p, "x": NAMES[p], "y": NAMES[t], "customdata": [t, p], **extra}


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([point(1, 0)], (1, 0)),
        ([point(0, 2)], (0, 2)),
        ([point(0, 0), point(2, 1)], (2, 1)),  # several points (shift-click): the last one
        ([], None),
        (None, None),
        ([{"curve_number": 0, "x": "ants", "y": "bees", "z": 0.3}], None),  # no customdata (another trace)
        ([{"customdata": [3, 0]}], None),  # out of range
        ([{"customdata": [-1, 0]}], None),
        ([{"customdata": 7}], None),  # not a cell
        ([{"customdata": ["a", "b"]}], None),
        ([point(2, 2), {"customdata": None}], (2, 2)),
    ],
)
def test_confusion_cell_maps_a_selection_to_true_and_predicted(points, expected):
    assert confusion_cell(points, len(NAMES)) == expected
