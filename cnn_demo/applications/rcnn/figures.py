"""Pictures of the R-CNN page: grouping steps, the shared feature map with one RoI, timings and agreement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw
from plotly.subplots import make_subplots

from cnn_demo.applications.rcnn.pipeline import RANK_STAGE, Comparison
from cnn_demo.applications.rcnn.proposals import Hierarchy
from cnn_demo.viz import image_trace

RANK_COLOUR = "#ff7f0e"  # the erase test's bar in both methods' timings


def grouping_picture(small: np.ndarray, hierarchy: Hierarchy, step: int) -> np.ndarray:
    """The working copy after ``step`` merges: each region painted its mean colour, borders in white, and the
    region made by the latest merge outlined in orange."""
    from skimage.color import label2rgb
    from skimage.segmentation import find_boundaries

    labels = hierarchy.labels_at(step)
    painted = label2rgb(labels, small, kind="avg", bg_label=-1).astype(np.uint8)
    painted[find_boundaries(labels, mode="inner")] = 255
    pic = Image.fromarray(painted)
    if step > 0:
        x0, y0, x1, y1 = hierarchy.boxes[hierarchy.n_segments + step - 1] / hierarchy.factor
        ImageDraw.Draw(pic).rectangle([x0, y0, x1 - 1, y1 - 1], outline=(255, 127, 14), width=3)
    return np.asarray(pic)


def outlined(image: np.ndarray, box: Sequence[float], colour: tuple[int, int, int], width: int = 4) -> np.ndarray:
    """The photo with ``box`` (x0, y0, x1, y1) drawn on it."""
    pic = Image.fromarray(image)
    x0, y0, x1, y1 = (float(v) for v in box)
    ImageDraw.Draw(pic).rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
    return np.asarray(pic)


def voted(image: np.ndarray, voters: np.ndarray, box: Sequence[float], colour: tuple[int, int, int]) -> np.ndarray:
    """The photo with the boxes that voted (thin, pale) and their weighted average ``box`` (thick) in ``colour``."""
    pic = Image.fromarray(image)
    draw = ImageDraw.Draw(pic)
    pale = tuple((c + 255) // 2 for c in colour)
    for x0, y0, x1, y1 in np.asarray(voters, dtype=np.float64).reshape(-1, 4):
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=pale, width=1)
    x0, y0, x1, y1 = (float(v) for v in box)
    draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=4)
    return np.asarray(pic)


def erased(image: np.ndarray, box: Sequence[float], fill: Sequence[float]) -> np.ndarray:
    """The photo with ``box`` filled with ``fill`` (the classifier's mean colour, 0..1): what R-CNN's erase test
    shows the CNN."""
    out = image.copy()
    x0, y0, x1, y1 = (max(round(float(v)), 0) for v in box)
    out[y0:y1, x0:x1] = [round(float(v) * 255) for v in fill]
    return out


def _grid(fig: go.Figure, box: Sequence[float], cells: tuple[int, int], colour: str, row: int, col: int) -> None:
    """Outline ``box`` (x0, y0, x1, y1) and its ``cells`` (rows, columns) bins on subplot (row, col)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    xs: list = []
    ys: list = []
    for k in range(cells[1] + 1):
        x = x0 + (x1 - x0) * k / cells[1]
        xs += [x, x, None]
        ys += [y0, y1, None]
    for k in range(cells[0] + 1):
        y = y0 + (y1 - y0) * k / cells[0]
        xs += [x0, x1, None]
        ys += [y, y, None]
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=colour, width=1.5), hoverinfo="skip", showlegend=False),
        row=row,
        col=col,
    )


def feature_map_figure(
    image: np.ndarray,
    energy: np.ndarray,
    stride: int,
    box: Sequence[float],
    roi_size: tuple[int, int],
    factor: float = 1.0,
) -> go.Figure:
    """Left: the photo at one pyramid scale ``factor`` (in its border) with one widened proposal ``box`` in its
    pixels. Right: that picture's feature map (each cell's activation strength, one cell per ``stride`` pixels)
    with the same box and the RoIAlign grid of ``roi_size`` bins."""
    h, w = energy.shape
    fig = make_subplots(
        1,
        2,
        subplot_titles=(
            f"the photo at scale {factor:g}, {image.shape[1]}×{image.shape[0]} pixels with its border",
            f"its feature map: {h}×{w} cells of {stride}×{stride} pixels",
        ),
        horizontal_spacing=0.04,
    )
    fig.add_trace(image_trace(image), row=1, col=1)
    _grid(fig, box, (1, 1), "#ff7f0e", 1, 1)
    fig.add_trace(
        go.Heatmap(
            z=energy,
            colorscale="Viridis",
            showscale=False,
            hovertemplate="cell row %{y}, column %{x}<br>activation %{z:.2f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    # aligned=True: pixel x sits at feature coordinate x / stride - 0.5, cell centres at whole numbers
    fx = [float(v) / stride - 0.5 for v in box]
    _grid(fig, fx, roi_size, "#ff7f0e", 1, 2)
    ih, iw = image.shape[:2]
    fig.update_xaxes(range=[-0.5, iw - 0.5], showgrid=False, row=1, col=1)
    fig.update_yaxes(range=[ih - 0.5, -0.5], showgrid=False, scaleanchor="x", constrain="domain", row=1, col=1)
    fig.update_xaxes(range=[-0.5, w - 0.5], showgrid=False, row=1, col=2)
    fig.update_yaxes(range=[h - 0.5, -0.5], showgrid=False, scaleanchor="x2", constrain="domain", row=1, col=2)
    fig.update_layout(height=380, margin=dict(l=0, r=0, t=30, b=0))
    return fig


def pair_heatmaps(left: np.ndarray, right: np.ndarray, titles: tuple[str, str]) -> go.Figure:
    """Two small grids (the 7×7 the head sees) side by side on one colour scale."""
    top = float(max(left.max(), right.max(), 1e-6))
    fig = make_subplots(1, 2, subplot_titles=titles, horizontal_spacing=0.08)
    for k, z in enumerate((left, right), start=1):
        fig.add_trace(
            go.Heatmap(
                z=z,
                zmin=0,
                zmax=top,
                colorscale="Viridis",
                showscale=k == 2,
                hovertemplate="row %{y}, column %{x}<br>activation %{z:.2f}<extra></extra>",
            ),
            row=1,
            col=k,
        )
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{k if k > 1 else ''}", row=1, col=k)
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=30, b=0))
    return fig


def timing_figure(result: Comparison) -> go.Figure:
    """Seconds per stage of both methods as stacked horizontal bars, and the proposals' label agreement."""
    fig = make_subplots(
        1,
        2,
        column_widths=[0.68, 0.32],
        subplot_titles=(
            f"seconds to classify the same {len(result.proposals)} proposals",
            f"same top label ({result.agreement:.0%}), by size",
        ),
        horizontal_spacing=0.12,
    )
    colours = ["#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#d62728", "#9467bd", "#8c564b"]
    k = 0
    for r in (result.rcnn, result.fast):
        for stage, seconds in r.stages:
            same_step = stage == RANK_STAGE  # the same step in both methods: one colour
            fig.add_trace(
                go.Bar(
                    x=[seconds],
                    y=[r.method],
                    orientation="h",
                    name=stage,
                    legendgroup=r.method,
                    legendgrouptitle_text=r.method,
                    marker_color=RANK_COLOUR if same_step else colours[k % len(colours)],
                    hovertemplate=f"{r.method}: {stage}<br>%{{x:.3f}} s<extra></extra>",
                ),
                row=1,
                col=1,
            )
            k += 0 if same_step else 1
        fig.add_annotation(
            x=r.seconds, y=r.method, text=f" {r.seconds:.2f} s", showarrow=False, xanchor="left", row=1, col=1
        )
    rows = result.agreement_by_size()
    fig.add_trace(
        go.Bar(
            x=[label for label, _, _ in rows],
            y=[100 * same / n if n else 0 for _, same, n in rows],
            marker_color="#2ca02c",
            text=[f"{same} of {n}" for _, same, n in rows],
            textposition="auto",
            showlegend=False,
            hovertemplate="proposals %{x}: %{y:.0f} % named alike (%{text})<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_layout(
        barmode="stack",
        height=340,
        margin=dict(l=0, r=10, t=30, b=0),
        legend=dict(orientation="h", yanchor="top", y=-0.3, x=0, traceorder="grouped"),
    )
    fig.update_xaxes(title_text="seconds", range=[0, result.rcnn.seconds * 1.25 + 1e-6], row=1, col=1)
    fig.update_yaxes(title_text="% with the same label", range=[0, 100], row=1, col=2)
    fig.update_xaxes(title_text="proposal side √(w·h)", row=1, col=2)
    return fig
