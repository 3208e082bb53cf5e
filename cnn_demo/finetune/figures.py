"""Plotly figures for training jobs and fine-tuning results. Pure functions: numbers in, figures out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from cnn_demo.data.figures import unique_labels
from cnn_demo.viz import Curve

SERIES_COLOURS = {"train": "#1f77b4", "val": "#d62728", "baseline": "#7f7f7f"}
SERIES_DASH = {"train": "solid", "baseline": "dash"}
CONFUSION_CELLS = "cells"  # name of the clickable trace of confusion_figure


#: How :func:`cnn_demo.viz.curves_figure` lays out :func:`history_curves`: loss left, accuracy right.
HISTORY_LAYOUT: dict[str, Any] = dict(
    panels=("Loss", "Accuracy"),
    y_ranges={2: (0, 1.02)},
    height=340,
    margin=dict(l=0, r=0, t=50, b=70),
    legend=dict(orientation="h", y=-0.3, x=0),
)


def history_curves(history: Sequence[dict[str, Any]]) -> list[Curve]:
    """Loss and accuracy per epoch (training and validation) from a job's metric rows, for
    ``viz.curves_figure(history_curves(rows), **HISTORY_LAYOUT)``.

    Any metric whose name ends in ``loss`` goes in the first panel and ``accuracy`` in the second, so other job
    kinds (segmentation, detection) get their curves too.
    """
    curves = []
    if history:
        x = [row.get("epoch", row.get("step")) for row in history]
        keys = sorted({k for row in history for k, v in row.items() if isinstance(v, (int, float))})
        for key in keys:
            col = 1 if key.endswith("loss") else 2 if key.endswith("accuracy") else None
            if col is None:
                continue
            prefix = key.split("_")[0]
            line = dict(color=SERIES_COLOURS.get(prefix), dash=SERIES_DASH.get(prefix, "dot"))
            name = "majority-class baseline (val)" if key == "baseline_val_accuracy" else key.replace("_", " ")
            curves.append(Curve(name, x, [row.get(key) for row in history], col, line))
    return curves


def per_class_figure(per_class: dict[str, float | None], title: str = "Validation accuracy per class") -> go.Figure:
    """Horizontal bars: each class's validation accuracy."""
    names = unique_labels(list(per_class))  # class names come from users: shown literally, never as HTML
    values = [0.0 if v is None else float(v) for v in per_class.values()]
    fig = go.Figure(
        go.Bar(x=values, y=names, orientation="h", text=[f"{v:.0%}" for v in values], marker_color="#3b6fd8")
    )
    fig.update_xaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title=title, height=max(200, 40 + 28 * len(names)), margin=dict(l=0, r=0, t=40, b=0))
    return fig


def confusion_figure(
    confusion: Sequence[Sequence[int]], class_names: Sequence[str], selected: tuple[int, int] | None = None
) -> go.Figure:
    """The confusion matrix (rows: true class, columns: predicted class); a click anywhere in a cell selects it.

    Plotly heatmaps emit no point selections, so an invisible scatter trace (``CONFUSION_CELLS``) puts one point
    at each cell centre with ``customdata = [true index, predicted index]``; with ``hoverdistance=-1`` the point
    nearest to the mouse is hovered and clicked, and on a grid of equal cells that is the cell under the mouse.
    ``selected`` (true, predicted) gets an outline, so the matrix shows the cell chosen with the select boxes too.
    Read a selection back with :func:`confusion_cell`.
    """
    cm = np.asarray(confusion, dtype=int)
    names = unique_labels([str(c) for c in class_names])
    n = len(names)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {cm.shape} for {n} classes")
    row_sums = cm.sum(axis=1, keepdims=True).clip(min=1)
    fig = go.Figure(
        go.Heatmap(
            z=cm / row_sums,
            x=names,
            y=names,
            text=cm.astype(str),
            texttemplate="%{text}",
            textfont=dict(size=16),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            hoverinfo="skip",
            xgap=2,
            ygap=2,
        )
    )
    fig.add_trace(_cell_points(cm, names))
    if selected is not None and all(0 <= k < n for k in selected):
        i, j = selected
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="#ff7f0e", width=4))
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom", fixedrange=True)
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed", fixedrange=True)
    size = 150 + 60 * n
    fig.update_layout(
        height=min(700, size),
        margin=dict(l=0, r=0, t=40, b=0),  # the toolbar shown on hover sits above the cells, not on them
        clickmode="event+select",
        hovermode="closest",
        hoverdistance=-1,
    )
    return fig


def _cell_points(cm: np.ndarray, names: list[str]) -> go.Scatter:
    """The clickable trace of :func:`confusion_figure`: one invisible point at each cell's centre, its
    ``customdata`` (true index, predicted index)."""
    n = len(names)
    rows, cols = np.divmod(np.arange(n * n), n)
    return go.Scatter(
        x=[names[j] for j in cols],
        y=[names[i] for i in rows],
        name=CONFUSION_CELLS,
        mode="markers",
        marker=dict(size=12, opacity=0, symbol="square"),
        customdata=np.stack([rows, cols], axis=1).tolist(),
        text=[str(c) for c in cm.ravel()],
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text} image(s)<extra></extra>",
        showlegend=False,
    )


def confusion_cell(points: Sequence[dict[str, Any]], n_classes: int) -> tuple[int, int] | None:
    """(true, predicted) class indices of the cell selected in a :func:`confusion_figure`, or None.

    ``points`` is ``event.selection.points`` of ``st.plotly_chart``; the last point of the clickable trace wins,
    and anything else (another trace, a box selection without cells, indices out of range) gives None.
    """
    for point in reversed(list(points or [])):
        data = point.get("customdata") if isinstance(point, dict) else None
        if not isinstance(data, (list, tuple)) or len(data) != 2:
            continue
        try:
            true, pred = (int(v) for v in data)
        except (TypeError, ValueError):
            continue
        if 0 <= true < n_classes and 0 <= pred < n_classes:
            return true, pred
    return None


def probability_figure(probs: Sequence[float], class_names: Sequence[str], title: str = "") -> go.Figure:
    """Probability bars for one prediction, the most likely class on top."""
    p = np.asarray(probs, dtype=float)
    order = np.argsort(-p, kind="stable")
    names = unique_labels([str(class_names[i]) for i in order])
    colours = ["#3b6fd8" if k == 0 else "#9bb3e0" for k in range(len(order))]
    fig = go.Figure(
        go.Bar(x=p[order], y=names, orientation="h", text=[f"{v:.1%}" for v in p[order]], marker_color=colours)
    )
    fig.update_xaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title=title, height=max(160, 50 + 26 * len(names)), margin=dict(l=0, r=0, t=30, b=0))
    return fig


def compare_figure(runs: dict[str, Sequence[dict[str, Any]]], metric: str = "val_accuracy") -> go.Figure:
    """One metric per epoch for several runs (e.g. frozen versus fine-tuned) on the same axes."""
    fig = go.Figure()
    baselines: list[float] = []
    for label, history in runs.items():
        x = [r.get("epoch") for r in history]
        fig.add_trace(go.Scatter(x=x, y=[r.get(metric) for r in history], name=label, mode="lines+markers"))
        base = history[-1].get("baseline_" + metric) if history else None
        if base is not None and not any(abs(base - b) < 1e-9 for b in baselines):  # one line per validation set
            baselines.append(base)
            name = "majority-class baseline" + ("" if len(runs) == 1 or len(baselines) == 1 else f" ({label})")
            fig.add_trace(
                go.Scatter(x=x, y=[base] * len(x), name=name, mode="lines", line=dict(color="#7f7f7f", dash="dash"))
            )
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title=metric.replace("_", " "),
        height=320,
        margin=dict(l=0, r=0, t=20, b=70),
        legend=dict(orientation="h", y=-0.3, x=0),
    )
    return fig
