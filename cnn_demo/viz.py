"""Plotly figure builders shared by the pages. Pure functions: arrays in, figures out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

CHANNEL_COLOURS = {"R": "#d62728", "G": "#2ca02c", "B": "#1f77b4", "L": "#444444"}


def image_figure(image: np.ndarray, title: str = "", height: int | None = None) -> go.Figure:
    """An image (H×W grayscale or H×W×3, values 0..255) as a plotly figure with pixel coordinates on hover."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        fig = go.Figure(go.Heatmap(z=arr, colorscale="gray", showscale=False, zmin=0, zmax=255))
        fig.update_yaxes(autorange="reversed")
    else:
        fig = go.Figure(go.Image(z=np.clip(arr, 0, 255).astype(np.uint8)))
    fig.update_yaxes(scaleanchor="x", constrain="domain")
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=30 if title else 0, b=0), height=height)
    return fig


def matrix_figure(
    values: np.ndarray,
    title: str = "",
    *,
    colorscale: str = "gray",
    annotate: bool = True,
    fmt: str = ".0f",
    zmin: float | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """A small 2-D array drawn cell by cell, with each value written in its cell."""
    arr = np.asarray(values, dtype=float)
    text = [[format(v, fmt) for v in row] for row in arr] if annotate else None
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            text=text,
            texttemplate="%{text}" if annotate else None,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            showscale=False,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=30 if title else 0, b=0))
    return fig


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
