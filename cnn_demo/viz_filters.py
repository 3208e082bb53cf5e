"""Plotly figures for the 2-D filtering and convolution-arithmetic pages. Pure functions: arrays in, figures out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.arithmetic import ReceptiveField, window_cells
from cnn_demo.filters import PixelBreakdown
from cnn_demo.viz import fixed_margins, image_figure, matrix_figure

INPUT_COLOUR = "#dbe9f6"
PAD_COLOUR = "#f2f2f2"
READ_COLOUR = "#ff7f0e"
OUTPUT_COLOUR = "#c7e9c0"
CURRENT_COLOUR = "#2ca02c"


def kernel_figure(kernel: np.ndarray, title: str = "Kernel") -> go.Figure:
    """A kernel drawn cell by cell with its weights written in; blue negative, red positive."""
    k = np.asarray(kernel, dtype=float)
    peak = float(np.abs(k).max()) or 1.0
    fmt = ".3g"
    fig = matrix_figure(k, title, colorscale="RdBu_r", fmt=fmt, zmin=-peak, zmax=peak, annotate=k.size <= 121)
    side = 60 + 34 * max(k.shape)
    fig.update_layout(height=min(side, 420))
    return fig


def block_mean(values: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """Shrink a 2-D array by averaging f×f blocks so its longer side is at most ``max_side``; returns it and f."""
    arr = np.asarray(values, dtype=float)
    f = max(1, -(-max(arr.shape) // max_side))
    if f == 1:
        return arr, 1
    h, w = (arr.shape[0] // f) * f, (arr.shape[1] // f) * f
    return arr[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3)), f


def spectrum_figure(values: np.ndarray, title: str, colorscale: str = "Viridis", max_side: int = 128) -> go.Figure:
    """A centred 2-D spectrum (zero frequency in the middle) as a heatmap with a colour bar.

    Large spectra are block-averaged to ``max_side`` cells a side so the browser stays fast.
    """
    full = np.asarray(values, dtype=float)
    arr, f = block_mean(full, max_side)
    arr = arr.astype(np.float32)  # half the bytes of float64; hover shows 3 significant digits
    h, w = arr.shape
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=(np.arange(w) - w // 2) * f,
            y=(np.arange(h) - h // 2) * f,
            colorscale=colorscale,
            colorbar=dict(thickness=10),
            hovertemplate="frequency (%{y}, %{x})<br>%{z:.3g}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", title="vertical frequency")
    fig.update_xaxes(title="horizontal frequency")
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=30, b=0), height=330)
    return fixed_margins(fig, 62, 48, right=10)


def border_figure(padded: np.ndarray, offset: tuple[int, int], size: int, title: str, height: int = 210) -> go.Figure:
    """A crop with invented border pixels; the real image (``size`` a side, starting at ``offset``) is outlined."""
    arr = np.asarray(padded, dtype=float)
    fig = _plain_image(arr, title, height)
    fig.add_shape(
        type="rect",
        x0=offset[1] - 0.5,
        y0=offset[0] - 0.5,
        x1=offset[1] + size - 0.5,
        y1=offset[0] + size - 0.5,
        line=dict(color=READ_COLOUR, width=2, dash="dash"),
    )
    return fig


def _plain_image(arr: np.ndarray, title: str, height: int) -> go.Figure:
    fig = image_figure(arr, title, height)
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    return fixed_margins(fig, 0, 0)


def small_image_figure(image: np.ndarray, title: str = "", height: int = 180) -> go.Figure:
    """A small image without axes, for rows of panels (values 0..255)."""
    return _plain_image(np.asarray(image, dtype=float), title, height)


def breakdown_figure(b: PixelBreakdown) -> go.Figure:
    """The pixel inspector: neighbourhood × (flipped) kernel = products, side by side, with values written in."""
    titles = ("Neighbourhood (input)", "Kernel as laid on the image", f"Products, sum = {b.total:.4g}")
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.04)
    annotate = b.weights.size <= 81
    outside = b.outside
    for col, (values, scale) in enumerate(
        ((b.neighbourhood, "gray"), (b.weights, "RdBu_r"), (b.products, "RdBu_r")), start=1
    ):
        v = np.asarray(values, dtype=float)
        if scale == "gray":
            zmin, zmax = 0.0, 255.0
        else:
            peak = float(np.abs(v).max()) or 1.0
            zmin, zmax = -peak, peak
        text = [
            [f"{x:.3g}" + ("*" if outside[i, j] and col != 2 else "") for j, x in enumerate(r)] for i, r in enumerate(v)
        ]
        fig.add_trace(
            go.Heatmap(
                z=v,
                x=b.cols,
                y=b.rows,
                text=text,
                texttemplate="%{text}" if annotate else None,
                colorscale=scale,
                zmin=zmin,
                zmax=zmax,
                showscale=False,
                xgap=1,
                ygap=1,
                hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col, dtick=1)
        fig.update_xaxes(row=1, col=col, dtick=1)
    fig.update_layout(margin=dict(l=0, r=0, t=40, b=0), height=320)
    return fixed_margins(fig, 34, 22)


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
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=40),
                buttons=[
                    dict(
                        label="▶ Play",
                        method="animate",
                        args=[None, dict(frame=dict(duration=600, redraw=True), fromcurrent=True)],
                    ),
                    dict(
                        label="❚❚ Pause",
                        method="animate",
                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))],
                    ),
                ],
            )
        ],
        sliders=[dict(steps=steps, x=0.22, len=0.78, y=0, pad=dict(t=30), currentvalue=dict(prefix="output cell "))],
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
