"""Plotly figures for dataset reports. Class names come from users, so they are escaped for plotly's HTML-ish labels."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cnn_demo.data.datasets import DatasetReport, SegmentationReport
from cnn_demo.data.voc import voc_palette

TRAIN_COLOUR = "#3b6fd8"
VAL_COLOUR = "#f0a030"


def plotly_text(text: str) -> str:
    """User text made literal for plotly, which would otherwise render tags such as ``<b>`` or ``<a href>``."""
    return html.escape(str(text), quote=True)


def unique_labels(names: Sequence[str]) -> list[str]:
    """Escaped labels; identical display strings get a counter so plotly does not merge their bars."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for n in names:
        label = plotly_text(n)
        if label in seen:
            seen[label] += 1
            label = f"{label} ({seen[label]})"
        else:
            seen[label] = 1
        out.append(label)
    return out


def class_counts_figure(report: DatasetReport, min_per_class: int | None = None) -> go.Figure:
    """Images per class as bars (train and validation stacked when the data came split), smallest need marked."""
    names = unique_labels([c.name for c in report.classes])
    horizontal = len(names) > 12
    fig = go.Figure()
    series = [("train", [c.train for c in report.classes], TRAIN_COLOUR)]
    if report.has_given_split:
        series.append(("val", [c.val for c in report.classes], VAL_COLOUR))
    for label, values, colour in series:
        name = label if report.has_given_split else "images"
        bar = (
            go.Bar(y=names, x=values, orientation="h", name=name, marker_color=colour, text=values)
            if horizontal
            else go.Bar(x=names, y=values, name=name, marker_color=colour, text=values)
        )
        fig.add_trace(bar)
    fig.update_traces(textposition="inside", insidetextanchor="middle", cliponaxis=False)
    if min_per_class:
        if horizontal:
            fig.add_vline(x=min_per_class, line_dash="dot", line_color="#d62728")
        else:
            fig.add_hline(y=min_per_class, line_dash="dot", line_color="#d62728")
    axis_title = "images"
    fig.update_layout(
        barmode="stack",
        title="Images per class",
        margin=dict(l=0, r=0, t=30, b=0),
        height=max(260, 22 * len(names) + 80) if horizontal else 320,
        showlegend=report.has_given_split,
        legend=dict(orientation="h", y=1.08, x=1, xanchor="right"),
    )
    if horizontal:
        fig.update_xaxes(title=axis_title)
        fig.update_yaxes(autorange="reversed", type="category")
    else:
        fig.update_yaxes(title=axis_title)
        fig.update_xaxes(type="category")
    return fig


def class_pixels_figure(report: SegmentationReport, class_names: Sequence[str]) -> go.Figure:
    """Share of labelled mask pixels per class (255 = ignore left out), for paired segmentation data."""
    total = sum(n for _, n in report.class_pixels) or 1
    labels = unique_labels([class_names[v] if v < len(class_names) else f"class {v}" for v, _ in report.class_pixels])
    shares = [n / total for _, n in report.class_pixels]
    fig = go.Figure(go.Bar(x=labels, y=shares, marker_color=TRAIN_COLOUR, text=[f"{s:.1%}" for s in shares]))
    fig.update_layout(title="Share of mask pixels per class", margin=dict(l=0, r=0, t=30, b=0), height=320)
    fig.update_yaxes(tickformat=".0%")
    fig.update_xaxes(type="category")
    return fig


def _read_only(colours: np.ndarray) -> np.ndarray:
    colours.flags.writeable = False
    return colours


#: The VOC colour map (256×3 uint8, read-only): class i in the colour VOC's tools give it, 255 (void) in VOC's cream.
VOC_COLOURS: np.ndarray = _read_only(voc_palette())
#: The VOC colours with 255 (ignore) drawn white: the dataset previews' masks.
PREVIEW_COLOURS: np.ndarray = _read_only(np.concatenate([voc_palette(255), [(255, 255, 255)]]).astype(np.uint8))


def colourise(labels: np.ndarray, colours: np.ndarray = VOC_COLOURS) -> np.ndarray:
    """A label map drawn in colours (H×W×3 uint8), label i in ``colours[i]`` (taken modulo their number): the one
    mask colouriser of the app (dataset previews, U-Net, segmentation, k-means)."""
    labels = np.asarray(labels)
    return colours[labels.astype(np.int64) % len(colours)]


def colour_hex(label: int, colours: np.ndarray = VOC_COLOURS) -> str:
    """The colour of ``label`` as ``#rrggbb`` (for legends)."""
    r, g, b = (int(v) for v in colours[int(label) % len(colours)])
    return f"#{r:02x}{g:02x}{b:02x}"
