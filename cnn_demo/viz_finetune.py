"""Plotly figures for training jobs and fine-tuning results. Pure functions: numbers in, figures out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

SERIES_COLOURS = {"train": "#1f77b4", "val": "#d62728"}


def curves_figure(history: Sequence[dict[str, Any]], title: str = "") -> go.Figure:
    """Loss and accuracy per epoch (training and validation) side by side, from a job's metric rows.

    Any metric whose name ends in ``loss`` goes left and ``accuracy`` right, so other job kinds
    (segmentation, detection) get their curves too.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    if history:
        x = [row.get("epoch", row.get("step")) for row in history]
        keys = sorted({k for row in history for k, v in row.items() if isinstance(v, (int, float))})
        for key in keys:
            col = 1 if key.endswith("loss") else 2 if key.endswith("accuracy") else None
            if col is None:
                continue
            prefix = key.split("_")[0]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[row.get(key) for row in history],
                    name=key.replace("_", " "),
                    mode="lines+markers",
                    line=dict(color=SERIES_COLOURS.get(prefix), dash="solid" if prefix == "train" else "dot"),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(
        title=title, height=340, margin=dict(l=0, r=0, t=50, b=70), legend=dict(orientation="h", y=-0.3, x=0)
    )
    return fig


def per_class_figure(per_class: dict[str, float | None], title: str = "Validation accuracy per class") -> go.Figure:
    """Horizontal bars: each class's validation accuracy."""
    names = list(per_class)
    values = [0.0 if v is None else float(v) for v in per_class.values()]
    fig = go.Figure(
        go.Bar(x=values, y=names, orientation="h", text=[f"{v:.0%}" for v in values], marker_color="#3b6fd8")
    )
    fig.update_xaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(title=title, height=max(200, 40 + 28 * len(names)), margin=dict(l=0, r=0, t=40, b=0))
    return fig


def confusion_figure(confusion: Sequence[Sequence[int]], class_names: Sequence[str]) -> go.Figure:
    """The confusion matrix (rows: true class, columns: predicted class); each cell can be selected."""
    cm = np.asarray(confusion, dtype=int)
    names = [str(c) for c in class_names]
    # One clickable marker per cell on top of the heatmap: Streamlit reports selected points, not heatmap cells.
    xs, ys, counts = [], [], []
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            xs.append(names[j])
            ys.append(names[i])
            counts.append(int(cm[i, j]))
    row_sums = cm.sum(axis=1, keepdims=True).clip(min=1)
    fig = go.Figure(
        go.Heatmap(
            z=cm / row_sums,
            x=names,
            y=names,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            hoverinfo="skip",
            xgap=2,
            ygap=2,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers+text",
            text=[str(c) for c in counts],
            textfont=dict(size=16),
            marker=dict(size=40, opacity=0.01, symbol="square"),
            customdata=counts,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} image(s)<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_xaxes(title_text="predicted class", type="category", side="bottom")
    fig.update_yaxes(title_text="true class", type="category", autorange="reversed")
    size = 120 + 60 * len(names)
    fig.update_layout(height=min(700, size), margin=dict(l=0, r=0, t=10, b=0), clickmode="event+select")
    return fig


def probability_figure(probs: Sequence[float], class_names: Sequence[str], title: str = "") -> go.Figure:
    """Probability bars for one prediction, the most likely class on top."""
    p = np.asarray(probs, dtype=float)
    order = np.argsort(-p, kind="stable")
    names = [str(class_names[i]) for i in order]
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
    for label, history in runs.items():
        fig.add_trace(
            go.Scatter(
                x=[r.get("epoch") for r in history],
                y=[r.get(metric) for r in history],
                name=label,
                mode="lines+markers",
            )
        )
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title=metric.replace("_", " "),
        height=320,
        margin=dict(l=0, r=0, t=20, b=70),
        legend=dict(orientation="h", y=-0.3, x=0),
    )
    return fig
