"""Plotly figures for the model pages (inspector, feature maps). Pure functions: arrays in, figures out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.models.explain import tile_images
from cnn_demo.viz import image_figure


def layer_bars_figure(records: Sequence[dict], log: bool = True) -> go.Figure:
    """Parameters and multiply-accumulates per layer, as two bar charts sharing the layer axis."""
    rows = [r for r in records if r["params"] or r["macs"]]
    names = [f"{i}: {r['name']}" for i, r in enumerate(rows)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=("parameters", "multiply-accumulates"))
    fig.add_trace(go.Bar(x=names, y=[r["params"] for r in rows], name="parameters", marker_color="#1f77b4"), 1, 1)
    fig.add_trace(go.Bar(x=names, y=[r["macs"] for r in rows], name="MACs", marker_color="#ff7f0e"), 2, 1)
    if log:
        fig.update_yaxes(type="log")
    fig.update_xaxes(showticklabels=len(rows) <= 40, tickangle=-60)
    fig.update_layout(height=520, showlegend=False, margin=dict(l=0, r=0, t=30, b=0))
    return fig


def fitted_height(shape: tuple[int, ...], width_hint: int = 1000, top: int = 0) -> int:
    """A figure height that fits an image of ``shape`` (H, W, ...) shown about ``width_hint`` pixels wide."""
    h, w = shape[0], shape[1]
    return int(min(max(width_hint * h / max(w, 1), 80), 900)) + top


def crop_figure(image: np.ndarray, box: tuple[float, float, float, float], title: str = "") -> go.Figure:
    """A picture with the region the model's preprocessing keeps outlined, the rest dimmed."""
    h, w = np.asarray(image).shape[:2]
    left, top, right, bottom = box
    fig = image_figure(image, title, height=min(360, 60 + h))
    dim = dict(type="rect", xref="x", yref="y", line_width=0, fillcolor="rgba(0,0,0,0.55)", layer="above")
    for x0, y0, x1, y1 in ((-0.5, -0.5, left - 0.5, h - 0.5), (right - 0.5, -0.5, w - 0.5, h - 0.5)):
        if x1 > x0:
            fig.add_shape(x0=x0, y0=y0, x1=x1, y1=y1, **dim)
    for y0, y1 in ((-0.5, top - 0.5), (bottom - 0.5, h - 0.5)):
        if y1 > y0:
            fig.add_shape(x0=left - 0.5, y0=y0, x1=right - 0.5, y1=y1, **dim)
    fig.add_shape(
        type="rect", x0=left - 0.5, y0=top - 0.5, x1=right - 0.5, y1=bottom - 0.5, line=dict(color="#ff4b4b", width=3)
    )
    return fig


def heat_figure(
    values: np.ndarray, title: str = "", colorscale: str = "Viridis", height: int | None = None, width_hint: int = 1000
) -> go.Figure:
    """A grayscale-valued array (e.g. tiled feature maps) as a heatmap with equal-aspect pixels, sized to fit."""
    values = np.asarray(values, dtype=float)
    if height is None:
        height = fitted_height(values.shape, width_hint, 30 if title else 0)
    fig = go.Figure(go.Heatmap(z=values, colorscale=colorscale, showscale=False))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=30 if title else 0, b=0), height=height)
    return fig


def filters_figure(filters: np.ndarray, columns: int = 16, title: str = "") -> go.Figure:
    """First-layer filters (N, k, k, 3) uint8 or (N, k, k) drawn as a grid of small images."""
    f = np.asarray(filters)
    rgb = f.ndim == 4
    grid = tile_images(f, columns, 1, 255).astype(np.uint8)
    if rgb:
        fig = go.Figure(go.Image(z=grid))
    else:
        fig = go.Figure(go.Heatmap(z=grid, colorscale="gray", showscale=False, zmin=0, zmax=255))
        fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(scaleanchor="x", constrain="domain", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title=title, margin=dict(l=0, r=0, t=30 if title else 0, b=0), height=fitted_height(grid.shape, 1000, 30)
    )
    return fig
