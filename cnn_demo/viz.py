"""Plotly figure builders shared by the pages. Pure functions: arrays in, figures out."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.io.images import to_png_bytes, to_uint8

CHANNEL_COLOURS = {"R": "#d62728", "G": "#2ca02c", "B": "#1f77b4", "L": "#444444"}


#: zlib effort for the PNGs inside figures: level 1 is 3x faster to encode than the default and only ~10% larger.
PNG_LEVEL = 1


def png_data_uri(image: np.ndarray) -> str:
    """A grayscale (H×W) or colour (H×W×3) image as a lossless PNG ``data:`` URI."""
    arr = to_uint8(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(arr, PNG_LEVEL)).decode("ascii")


def image_trace(image: np.ndarray, name: str = "image") -> go.Image:
    """A picture (H×W grayscale or H×W×3, values 0..255) as a plotly image trace that carries a PNG.

    A PNG is a fraction of the pixel array's size in the page's messages (a 512×512 grayscale float image:
    0.2 MB instead of 2.8 MB), costs the server no JSON work per pixel, and the browser decodes it natively
    instead of colouring every cell in JavaScript. Hover still shows each pixel's exact value: plotly reads it
    back from the decoded image.
    """
    arr = to_uint8(image)
    gray = arr.ndim == 2 or arr.shape[2] == 1
    values = "value %{color[0]}" if gray else "R %{color[0]}, G %{color[1]}, B %{color[2]}"
    return go.Image(
        source=png_data_uri(arr), name=name, hovertemplate=f"row %{{y}}, column %{{x}}<br>{values}<extra></extra>"
    )


def fixed_margins(fig: go.Figure, left: int, bottom: int, top: int | None = None, right: int = 0) -> go.Figure:
    """Give a figure fixed margins wide enough for its tick labels and turn off automatic margins.

    With automatic margins (Streamlit's theme turns them on) the browser measures every tick label and lays
    the figure out twice; on a page of many charts that was most of a rerun's drawing time.
    """
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    margin = dict(l=left, r=right, b=bottom) | ({} if top is None else dict(t=top))
    fig.update_layout(margin=margin)
    return fig


#: Room under a plot for its x tick labels (12 px text and its stand-off); less cut them off at the bottom.
TICK_ROOM = 32


def image_figure(image: np.ndarray, title: str = "", height: int | None = None) -> go.Figure:
    """An image (H×W grayscale or H×W×3, values 0..255) as a plotly figure with pixel coordinates on hover."""
    fig = go.Figure(image_trace(image))
    fig.update_yaxes(scaleanchor="x", constrain="domain")
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=30 if title else 0, b=0), height=height)
    return fixed_margins(fig, 40, TICK_ROOM, right=8)


def outline_region(fig: go.Figure, top: int, left: int, height: int, width: int, label: str = "") -> go.Figure:
    """Outline the pixels ``[top, top + height) × [left, left + width)`` of an image figure (the zoom window)."""
    fig.add_shape(
        type="rect",
        x0=left - 0.5,
        x1=left + width - 0.5,
        y0=top - 0.5,
        y1=top + height - 0.5,
        line=dict(color="#ff4b4b", width=2),
        label=dict(text=label, textposition="top left", font=dict(color="#ff4b4b")) if label else None,
        name="zoom window",
    )
    return fig


def _tick_values(labels: Sequence[int], most: int = 16) -> list[int]:
    """Every label of a short axis; every k-th of a long one (always the first), so labels never overlap."""
    step = max(1, -(-len(labels) // most))
    return list(labels[::step])


def matrix_figure(
    values: np.ndarray,
    title: str = "",
    *,
    colorscale: str = "gray",
    annotate: bool = True,
    fmt: str = ".0f",
    zmin: float | None = None,
    zmax: float | None = None,
    rows: Sequence[int] | None = None,
    cols: Sequence[int] | None = None,
    cell: int | None = None,
    max_width: int = 640,
) -> go.Figure:
    """A small 2-D array drawn cell by cell, with each value written in its cell.

    ``rows`` and ``cols`` number the cells (the image's own rows and columns for a crop; 0, 1, … by default).
    The figure is exactly as large as its square cells (``cell`` pixels, or what fits ``max_width``) plus room for
    the tick labels: show it with ``st.plotly_chart(..., width="content")`` so it is not stretched into a wide,
    mostly empty plot.
    """
    arr = np.asarray(values, dtype=float)
    n_rows, n_cols = arr.shape
    y = list(range(n_rows)) if rows is None else [int(r) for r in rows]
    x = list(range(n_cols)) if cols is None else [int(c) for c in cols]
    text = [[format(v, fmt) for v in row] for row in arr] if annotate else None
    left = 14 + 8 * max(len(str(v)) for v in (y[0], y[-1]))
    right, top = 8, 34 if title else 8
    if cell is None:
        cell = int(np.clip((max_width - left - right) / max(n_cols, 1), 10, 48))
    longest = max((len(t) for row in text for t in row), default=1) if text else 1
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}" if annotate else None,
            textfont=dict(size=int(np.clip(cell / (0.62 * longest), 7, 13))),
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
        )
    )
    axis = dict(showgrid=False, zeroline=False, ticks="", tickmode="array")
    fig.update_xaxes(**axis, tickvals=_tick_values(x), range=[x[0] - 0.5, x[-1] + 0.5], constrain="domain")
    fig.update_yaxes(
        **axis, tickvals=_tick_values(y), range=[y[-1] + 0.5, y[0] - 0.5], scaleanchor="x", constrain="domain"
    )
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", xref="paper") if title else None,
        width=left + right + cell * n_cols,
        height=top + TICK_ROOM + cell * n_rows,
    )
    return fixed_margins(fig, left, TICK_ROOM, top=top, right=right)


def histogram_figure(image: np.ndarray, title: str = "Pixel values") -> go.Figure:
    """Histogram of 0..255 values per channel."""
    arr = np.asarray(image)
    channels = {"L": arr} if arr.ndim == 2 else {c: arr[..., i] for i, c in enumerate("RGB")}
    fig = go.Figure()
    bins = np.arange(257)
    for name, ch in channels.items():
        counts, _ = np.histogram(ch, bins=bins)
        fig.add_trace(
            go.Scatter(x=bins[:-1], y=counts, name=name, mode="lines", line=dict(color=CHANNEL_COLOURS[name]))
        )
    fig.update_layout(title=title, xaxis_title="value", yaxis_title="pixels", margin=dict(l=0, r=0, t=30, b=0))
    return fig


@dataclass(frozen=True)
class Curve:
    """One line of :func:`curves_figure`: its points, its legend name, the panel it goes in (1 = the first), and
    plotly line settings (``{"color": ..., "dash": ...}``) or None for plotly's defaults."""

    name: str
    x: Sequence[Any]
    y: Sequence[Any]
    panel: int = 1
    line: Mapping[str, Any] | None = None


def metric_curves(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str], x: str = "epoch", names: Mapping[str, str] | None = None
) -> list[Curve]:
    """One :class:`Curve` per key of ``keys`` found in the metric ``rows`` (dicts with an ``x`` entry, as a job
    reports them), named in the legend by ``names`` (default: the key); rows without the key are skipped, keys in
    no row give no curve."""
    curves = []
    for key in keys:
        pts = [(r[x], r[key]) for r in rows if key in r and x in r]
        if pts:
            curves.append(Curve((names or {}).get(key, key), [p[0] for p in pts], [p[1] for p in pts]))
    return curves


def curves_figure(
    curves: Sequence[Curve],
    *,
    panels: Sequence[str] = (),
    x_title: str = "epoch",
    y_ranges: Mapping[int, tuple[float, float]] | None = None,
    title: str = "",
    height: int = 300,
    margin: Mapping[str, int] | None = None,
    legend: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Curves over training (loss, accuracy, IoU, … per epoch) as lines with markers: the one builder of them.

    Without ``panels`` every curve shares one plot; with ``panels`` (their titles) the curves go into side-by-side
    plots by their ``panel``. ``y_ranges`` fixes the y range of some panels (``{2: (0, 1.02)}`` for accuracies);
    ``None`` values in ``y`` leave gaps.
    """
    if panels:
        fig = make_subplots(rows=1, cols=len(panels), subplot_titles=tuple(panels))
    else:
        fig = go.Figure()
    for curve in curves:
        trace = go.Scatter(
            x=list(curve.x), y=list(curve.y), name=curve.name, mode="lines+markers", line=dict(curve.line or {})
        )
        if panels:
            fig.add_trace(trace, row=1, col=curve.panel)
        else:
            fig.add_trace(trace)
    fig.update_xaxes(title_text=x_title)
    xs = [v for c in curves for v in c.x]
    if xs and all(isinstance(v, (int, np.integer)) for v in xs):  # whole epochs: no tick at 1.5
        fig.update_xaxes(tick0=min(xs), dtick=max(1, -(-(max(xs) - min(xs)) // 8)))
    for panel, (lo, hi) in (y_ranges or {}).items():
        if panels:
            fig.update_yaxes(range=[lo, hi], row=1, col=panel)
        else:
            fig.update_yaxes(range=[lo, hi])
    fig.update_layout(title=title, height=height, margin=dict(margin or dict(l=0, r=0, t=30 if title else 0, b=0)))
    if legend is not None:
        fig.update_layout(legend=dict(legend))
    return fig
