"""Figures of the 2-D filtering page: kernels, spectra, borders, small pictures, one pixel's breakdown."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.images.filters import PixelBreakdown
from cnn_demo.viz import TICK_ROOM, fixed_margins, image_trace, matrix_figure

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
    annotate = k.size <= 121
    # Cells wide enough for a written weight (−0.125) while the kernel is small, smaller for a 41×41 Gaussian.
    cell = 52 if annotate else int(np.clip(440 / max(k.shape), 10, 30))
    return matrix_figure(k, title, colorscale="RdBu_r", fmt=fmt, zmin=-peak, zmax=peak, annotate=annotate, cell=cell)


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


def border_modes_figure(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray]], offset: tuple[int, int], size: int, height: int = 400
) -> go.Figure:
    """Every border mode in one figure: on top the crop with its invented border (the real image outlined at
    ``offset``, ``size`` a side), under it the filter's result on that corner (values 0..255).

    One figure of 2 × modes panels instead of 2 × modes figures: the browser lays out and draws one plot, not ten,
    which was most of the time the *Border modes* tab took to open.
    """
    modes = list(panels)
    fig = make_subplots(rows=2, cols=len(modes), subplot_titles=modes, horizontal_spacing=0.02, vertical_spacing=0.04)
    for col, mode in enumerate(modes, start=1):
        padded, result = panels[mode]
        fig.add_trace(image_trace(padded, f"{mode}: with border"), row=1, col=col)
        fig.add_trace(image_trace(result, f"{mode}: result"), row=2, col=col)
        fig.add_shape(
            type="rect",
            x0=offset[1] - 0.5,
            y0=offset[0] - 0.5,
            x1=offset[1] + size - 0.5,
            y1=offset[0] + size - 0.5,
            line=dict(color=READ_COLOUR, width=2, dash="dash"),
            row=1,
            col=col,
        )
    for row in (1, 2):
        for col in range(1, len(modes) + 1):
            i = (row - 1) * len(modes) + col  # subplot axes are numbered row by row: x, x2, ...
            fig.update_yaxes(scaleanchor="x" if i == 1 else f"x{i}", constrain="domain", row=row, col=col)
    plain = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_xaxes(constrain="domain", **plain)
    fig.update_yaxes(**plain)
    fig.update_layout(height=height)
    return fixed_margins(fig, 0, 0, top=24)


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
        # A third of the width holds about eight upright column numbers; more would be turned on end and cut off.
        fig.update_yaxes(autorange="reversed", row=1, col=col, dtick=1)
        fig.update_xaxes(row=1, col=col, dtick=-(-len(b.cols) // 8), tick0=int(b.cols[len(b.cols) // 2]), tickangle=0)
    fig.update_layout(margin=dict(l=0, r=0, t=40, b=0), height=320)
    return fixed_margins(fig, 14 + 8 * max(len(str(int(r))) for r in (b.rows[0], b.rows[-1])), TICK_ROOM)
