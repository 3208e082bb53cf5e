"""The transposed convolution drawn step by step on its canvas."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.images.arithmetic import TransposedSteps
from cnn_demo.images.figures.animation import play_slider
from cnn_demo.images.figures.filtering import CURRENT_COLOUR, READ_COLOUR
from cnn_demo.images.figures.linked import format_cell


def _cell_overlay(side: int, cells: tuple[np.ndarray, np.ndarray] | None, colour: str, opacity: float) -> go.Heatmap:
    """A one-colour heatmap over ``cells`` (rows × cols) of a side×side grid, transparent elsewhere."""
    z = np.full((side, side), np.nan)
    if cells is not None:
        z[np.ix_(*cells)] = 1.0
    return go.Heatmap(
        z=z,
        colorscale=[[0, colour], [1, colour]],
        zmin=0,
        zmax=1,
        showscale=False,
        opacity=opacity,
        hoverinfo="skip",
        xgap=2,
        ygap=2,
    )


def _values(z: np.ndarray, scale: str, zmax: float, hover: str) -> go.Heatmap:
    """A grid of numbers written in their cells, coloured on ``scale`` from 0 to ``zmax``."""
    return go.Heatmap(
        z=z,
        text=[[format_cell(v) for v in r] for r in z],
        texttemplate="%{text}",
        colorscale=scale,
        zmin=0,
        zmax=zmax or 1.0,
        showscale=False,
        xgap=2,
        ygap=2,
        hovertemplate=hover + "<extra></extra>",
    )


def _input_order(ts: TransposedSteps) -> list[tuple[int, int]]:
    """The input cells in the order they scatter onto the canvas (row by row): one frame each."""
    n = ts.x.shape[0]
    return [(i, j) for i in range(n) for j in range(n)]


def _frame_traces(ts: TransposedSteps, t: int) -> list[go.Heatmap]:
    """Step t's changing traces: the current input cell, the canvas so far, and the cells written now."""
    i, j = _input_order(ts)[t]
    top = float(ts.canvases[-1].max())
    return [
        _cell_overlay(ts.x.shape[0], (np.array([i]), np.array([j])), CURRENT_COLOUR, 0.8),
        _values(ts.canvases[t], "Blues", top, "canvas row %{y}, col %{x}: %{z:.4g}"),
        _cell_overlay(ts.canvas_side, ts.stamps[t], READ_COLOUR, 0.45),
    ]


def _frame_title(ts: TransposedSteps, t: int) -> str:
    """What step t does, e.g. "Input (0, 1) = 2 adds 2 × kernel to canvas rows 0–2, cols 2–4"."""
    i, j = _input_order(ts)[t]
    rows, cols = ts.stamps[t]
    return (
        f"Input ({i}, {j}) = {format_cell(ts.x[i, j])} adds {format_cell(ts.x[i, j])} × kernel to canvas rows "
        f"{rows[0]}–{rows[-1]}, cols {cols[0]}–{cols[-1]}" + (f" (every {ts.dilation}th)" if ts.dilation > 1 else "")
    )


def _cut_overlay(ts: TransposedSteps) -> go.Heatmap:
    """The canvas cells outside the output (``padding`` cut off, ``output_padding`` added), greyed."""
    side, p, n_out = ts.canvas_side, ts.padding, ts.output_side
    cut = np.ones((side, side), bool)
    cut[p : p + n_out, p : p + n_out] = False
    cut_cells = np.full((side, side), np.nan)
    cut_cells[cut] = 1.0
    return go.Heatmap(
        z=cut_cells,
        colorscale=[[0, "#bbbbbb"], [1, "#bbbbbb"]],
        showscale=False,
        opacity=0.75,
        hoverinfo="skip",
        xgap=2,
        ygap=2,
    )


def _add_panels(fig: go.Figure, ts: TransposedSteps) -> None:
    """The first frame's traces: input and kernel values, step 0, the greyed cut and the output's green outline."""
    fig.add_trace(_values(ts.x, "Purples", float(ts.x.max()) * 1.6, "input row %{y}, col %{x}: %{z}"), row=1, col=1)
    fig.add_trace(_values(ts.kernel, "Oranges", float(ts.kernel.max()), "weight %{z}"), row=1, col=2)
    first = _frame_traces(ts, 0)
    fig.add_trace(first[0], row=1, col=1)
    fig.add_trace(first[1], row=1, col=3)
    fig.add_trace(first[2], row=1, col=3)
    fig.add_trace(_cut_overlay(ts), row=1, col=3)
    p, n_out = ts.padding, ts.output_side
    fig.add_shape(
        type="rect",
        x0=p - 0.5,
        x1=p + n_out - 0.5,
        y0=p - 0.5,
        y1=p + n_out - 0.5,
        line=dict(color=CURRENT_COLOUR, width=3),
        row=1,
        col=3,
    )


def transposed_grid_figure(ts: TransposedSteps, duration_ms: int = 700) -> go.Figure:
    """vdumoulin-style animation of a transposed convolution: each input cell in turn (green, left) scatters
    its value × the kernel (middle) onto the canvas (right, orange: the cells written now), the canvas adds the
    overlaps; the output is the part inside the green outline (``padding`` cut off on every side,
    ``output_padding`` added at the bottom and right; greyed cells are cut). Play button and slider, one frame per
    input cell."""
    n, k, side = ts.x.shape[0], ts.kernel.shape[0], ts.canvas_side
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[max(n, 2), max(k, 2), side],
        subplot_titles=("Input", "Kernel", "Canvas: output = inside the green outline"),
        horizontal_spacing=0.05,
    )
    _add_panels(fig, ts)
    order = _input_order(ts)
    fig.frames = [
        dict(data=_frame_traces(ts, t), traces=[2, 3, 4], name=str(t), layout=dict(title_text=_frame_title(ts, t)))
        for t in range(len(order))
    ]
    steps = [
        dict(
            method="animate",
            label=f"{i},{j}",
            args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))],
        )
        for t, (i, j) in enumerate(order)
    ]
    fig.update_yaxes(autorange="reversed", showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain")
    for name in [nm for nm in fig.layout if nm.startswith("yaxis")]:
        fig.layout[name].update(scaleanchor="x" + name[5:], constrain="domain")
    fig.update_layout(
        title=_frame_title(ts, 0),
        height=int(min(760, max(360, 26 * side + 200))),
        margin=dict(l=0, r=0, t=60, b=0),
        **play_slider(steps, duration_ms, "input cell "),
    )
    return fig
