"""Plotly figures of the Applications pages: boxes on images, IoU, class shares, U-Net diagram, training curves."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from cnn_demo.viz import image_trace


@dataclass(frozen=True)
class BoxGroup:
    """Boxes drawn in one colour as one legend entry."""

    name: str
    boxes: np.ndarray  # (N, 4) xyxy
    colour: str
    width: float = 2.0
    dash: str = "solid"
    texts: Sequence[str] | None = None


def _outline(boxes: np.ndarray) -> tuple[list, list]:
    xs: list = []
    ys: list = []
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=float).reshape(-1, 4):
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
    return xs, ys


def boxes_figure(
    image: np.ndarray, groups: Sequence[BoxGroup], title: str = "", height: int | None = None
) -> go.Figure:
    """The image with groups of boxes outlined on it (pixel coordinates, y down), one legend entry per group."""
    arr = np.asarray(image)
    h, w = arr.shape[:2]
    fig = go.Figure(image_trace(arr))
    for g in groups:
        xs, ys = _outline(g.boxes)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=f"{g.name} ({len(g.boxes)})",
                line=dict(color=g.colour, width=g.width, dash=g.dash),
                hoverinfo="skip",
            )
        )
        if g.texts is not None and len(g.boxes):
            b = np.asarray(g.boxes, dtype=float).reshape(-1, 4)
            fig.add_trace(
                go.Scatter(
                    x=b[:, 0],
                    y=b[:, 1],
                    mode="markers",
                    marker=dict(color=g.colour, size=6),
                    text=list(g.texts),
                    hovertemplate="%{text}<extra></extra>",
                    showlegend=False,
                )
            )
    fig.update_xaxes(range=[-0.5, w - 0.5], showgrid=False)
    fig.update_yaxes(range=[h - 0.5, -0.5], showgrid=False, scaleanchor="x", constrain="domain")
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0),
    )
    return fig


def iou_figure(a: Sequence[float], b: Sequence[float], inter: Sequence[float] | None, size: int = 100) -> go.Figure:
    """Two boxes A and B on a ``size``×``size`` canvas with their intersection shaded."""
    fig = go.Figure()
    for box, name, colour, fill in (
        (a, "A", "#1f77b4", "rgba(31,119,180,0.12)"),
        (b, "B", "#d62728", "rgba(214,39,40,0.12)"),
    ):
        xs, ys = _outline(np.array([box]))
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, name=name, mode="lines", line=dict(color=colour, width=3), fill="toself", fillcolor=fill
            )
        )
    if inter is not None:
        xs, ys = _outline(np.array([inter]))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name="A ∩ B",
                mode="lines",
                fill="toself",
                line=dict(color="#2ca02c", width=1),
                fillcolor="rgba(44,160,44,0.45)",
            )
        )
    fig.update_xaxes(range=[0, size], constrain="domain", title="x")
    fig.update_yaxes(range=[size, 0], scaleanchor="x", constrain="domain", title="y")
    fig.update_layout(height=360, margin=dict(l=0, r=0, t=10, b=0))
    return fig


def share_figure(names: Sequence[str], shares: Sequence[float], colours: Sequence[str], title: str = "") -> go.Figure:
    """Horizontal bars: the share of pixels per class, each bar in its class colour (a legend for the overlay)."""
    fig = go.Figure(
        go.Bar(
            x=[100 * s for s in shares],
            y=list(names),
            orientation="h",
            marker_color=list(colours),
            text=[f"{100 * s:.1f} %" for s in shares],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1f} % of the pixels<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=title,
        xaxis_title="% of pixels",
        height=max(160, 40 + 28 * len(names)),
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
    )
    return fig


def unet_figure(levels: Sequence[dict]) -> go.Figure:
    """The U: encoder blocks down the left, decoder blocks up the right, skip connections across.

    ``levels`` are dicts from :func:`cnn_demo.applications.unet.unet_shapes` (``side``, ``depth``, ``name``, ``shape``).
    """
    fig = go.Figure()
    depth_max = max(lv["depth"] for lv in levels)
    pos: dict[str, tuple[float, float]] = {}
    enc = [lv for lv in levels if lv["side"] == "encoder"]
    dec = [lv for lv in levels if lv["side"] == "decoder"]
    bottom = [lv for lv in levels if lv["side"] == "bottleneck"]
    for lv in enc:
        pos[lv["name"]] = (lv["depth"], -lv["depth"])
    for lv in bottom:
        pos[lv["name"]] = (depth_max, -depth_max)
    for lv in dec:
        pos[lv["name"]] = (2 * depth_max - lv["depth"], -lv["depth"])
    for lv in [*enc, *bottom, *dec]:
        x, y = pos[lv["name"]]
        c, h, w = lv["shape"]
        colour = {"encoder": "#1f77b4", "bottleneck": "#9467bd", "decoder": "#2ca02c"}[lv["side"]]
        fig.add_shape(type="rect", x0=x - 0.42, x1=x + 0.42, y0=y - 0.32, y1=y + 0.32, fillcolor=colour, opacity=0.25)
        fig.add_annotation(x=x, y=y, text=f"<b>{lv['name']}</b><br>{c}×{h}×{w}", showarrow=False, font=dict(size=11))
    # the path down and up
    path = [*enc, *bottom, *dec]
    for a, b in itertools.pairwise(path):
        (x0, y0), (x1, y1) = pos[a["name"]], pos[b["name"]]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                           arrowhead=2, arrowcolor="#555", standoff=22, startstandoff=22)  # fmt: skip
    # skip connections: encoder level d -> decoder level d
    for lv in enc:
        match = [d for d in dec if d["depth"] == lv["depth"]]
        if match:
            (x0, y0), (x1, y1) = pos[lv["name"]], pos[match[0]["name"]]
            fig.add_annotation(x=x1 - 0.45, y=y1, ax=x0 + 0.45, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                               showarrow=True, arrowhead=2, arrowcolor="#ff7f0e", arrowwidth=2)  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[None], y=[None], mode="lines", line=dict(color="#ff7f0e", width=2), name="skip (copy + concatenate)"
        )
    )
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="lines", line=dict(color="#555"), name="conv blocks, pool ↓ / up-conv ↑")
    )
    fig.update_xaxes(visible=False, range=[-0.6, 2 * depth_max + 0.6])
    fig.update_yaxes(visible=False, range=[-depth_max - 0.6, 0.6])
    fig.update_layout(height=140 + 90 * depth_max, margin=dict(l=0, r=0, t=10, b=0),
                      legend=dict(orientation="h", y=-0.05))  # fmt: skip
    return fig


def colour_key_figure(key: Sequence[tuple[str, Sequence[int]]], per_row: int = 4, slot: int = 170) -> go.Figure:
    """A colour key: a square of each class colour with the class name beside it, ``per_row`` to a row.

    Names are drawn whole on one line ("background", "pottedplant"); as image captions under 40-pixel swatches
    they wrapped mid-word ("backg / round").
    """
    rows = -(-len(key) // per_row) or 1
    longest = max((len(name) for name, _ in key), default=1)
    slot = max(slot, 40 + 8 * longest)
    colours = [f"rgb({int(c[0])}, {int(c[1])}, {int(c[2])})" for _, c in key]
    fig = go.Figure(
        go.Scatter(
            x=[i % per_row for i in range(len(key))],
            y=[i // per_row for i in range(len(key))],
            mode="markers+text",
            marker=dict(symbol="square", size=18, color=colours, line=dict(color="#555555", width=1)),
            text=[f"  {name}" for name, _ in key],
            textposition="middle right",
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.update_xaxes(visible=False, range=[-0.12, per_row - 0.12])
    fig.update_yaxes(visible=False, range=[rows - 0.5, -0.5])
    fig.update_layout(
        width=slot * per_row, height=30 * rows + 8, margin=dict(l=0, r=0, t=4, b=4), plot_bgcolor="rgba(0,0,0,0)"
    )
    return fig
