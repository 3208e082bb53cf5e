"""Animated grids of a convolution's windows over a padded input, and receptive fields."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnn_demo.images.arithmetic import ReceptiveField, window_cells
from cnn_demo.images.figures.animation import play_slider
from cnn_demo.images.figures.filtering import CURRENT_COLOUR, INPUT_COLOUR, OUTPUT_COLOUR, PAD_COLOUR, READ_COLOUR

#: Discrete colours of the animated grid, by cell code.
_GRID_CODES = {0: PAD_COLOUR, 1: INPUT_COLOUR, 2: READ_COLOUR, 3: OUTPUT_COLOUR, 4: CURRENT_COLOUR}


def _grid_colorscale() -> list[list]:
    n = len(_GRID_CODES)
    scale = []
    for code, colour in _GRID_CODES.items():
        scale += [[code / n, colour], [(code + 1) / n, colour]]
    return scale


def _grid_canvas(
    h: int, w: int, pad: tuple[int, int], out_shape: tuple[int, int], read: list[tuple[int, int]], current
) -> tuple[np.ndarray, list[list[str]]]:
    """One frame as a grid of cell codes: padded input on the left, output on the right, a gap between."""
    ph, pw = pad
    oh, ow = out_shape
    left_w = w + 2 * pw
    rows, cols = max(h + 2 * ph, oh), left_w + 2 + ow
    z = np.full((rows, cols), np.nan)
    text = [["" for _ in range(cols)] for _ in range(rows)]
    for r in range(h + 2 * ph):
        for c in range(left_w):
            ir, ic = r - ph, c - pw
            inside = 0 <= ir < h and 0 <= ic < w
            z[r, c] = 1 if inside else 0
            text[r][c] = f"{'input' if inside else 'padding'} row {ir}, col {ic}"
    for ir, ic in read:
        z[ir + ph, ic + pw] = 2
    for r in range(oh):
        for c in range(ow):
            z[r, left_w + 2 + c] = 4 if (r, c) == current else 3
            text[r][left_w + 2 + c] = f"output row {r}, col {c}"
    return z, text


def _grid_heatmap(z: np.ndarray, text: list[list[str]]) -> go.Heatmap:
    n = len(_GRID_CODES)
    return go.Heatmap(
        z=z,
        text=text,
        hovertemplate="%{text}<extra></extra>",
        colorscale=_grid_colorscale(),
        zmin=0,
        zmax=n,
        showscale=False,
        xgap=2,
        ygap=2,
    )


def conv_grid_figure(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    max_frames: int = 150,
) -> go.Figure:
    """An animation (plotly frames with a play button and a slider): for each output cell in turn (green, right),
    the input cells its kernel reads (orange) on the padded input (blue; grey border = padding)."""
    cells = window_cells(size, kernel, stride, padding, dilation)
    h, w = size
    out_shape = (max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1)
    keys = sorted(cells)[:max_frames]

    def title(k: tuple[int, int]) -> str:
        return f"Output cell ({k[0]}, {k[1]}) reads {len(cells[k])} input cells (orange)"

    frames = []
    for k in keys:
        z, text = _grid_canvas(h, w, padding, out_shape, cells[k], k)
        frames.append(go.Frame(data=[_grid_heatmap(z, text)], name=f"{k[0]},{k[1]}", layout=go.Layout(title=title(k))))
    z, text = _grid_canvas(h, w, padding, out_shape, cells[keys[0]], keys[0])
    fig = go.Figure(data=[_grid_heatmap(z, text)], frames=frames)
    steps = [
        dict(
            method="animate",
            label=f"{k[0]},{k[1]}",
            args=[[f"{k[0]},{k[1]}"], dict(mode="immediate", frame=dict(duration=0, redraw=True))],
        )
        for k in keys
    ]
    rows = z.shape[0]
    fig.update_layout(
        title=title(keys[0]),
        **play_slider(steps, 600, "output cell "),
        margin=dict(l=0, r=0, t=40, b=0),
        height=min(760, max(340, 24 * rows + 190)),
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", visible=False)
    fig.update_xaxes(visible=False, constrain="domain")
    return fig


def receptive_field_figure(rows: list[ReceptiveField]) -> go.Figure:
    """Bar chart of receptive-field size after each layer, with the jump (product of strides) as a line."""
    names = [f"{i}. {r.name}" for i, r in enumerate(rows, start=1)]
    fig = go.Figure(
        go.Bar(x=names, y=[r.size for r in rows], name="receptive field (pixels)", text=[r.size for r in rows])
    )
    fig.add_trace(go.Scatter(x=names, y=[r.jump for r in rows], name="jump (product of strides)", mode="lines+markers"))
    fig.update_layout(
        margin=dict(l=0, r=0, t=30, b=0), height=320, yaxis_title="input pixels", title="Receptive field growth"
    )
    return fig
