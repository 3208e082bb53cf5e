"""Plotly figures for the pooling pages: pooling windows on a matrix, adaptive windows, coverage counts.

Pure functions: arrays in, figures out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cnn_demo.viz import matrix_figure

HIGHLIGHT = "#d62728"


def window_figure(
    values: np.ndarray,
    rows: Sequence[int] = (),
    cols: Sequence[int] = (),
    title: str = "",
    fmt: str = ".2f",
    padding: tuple[int, int] = (0, 0),
    max_width: int = 340,
) -> go.Figure:
    """A small matrix with the cells of one pooling window outlined; padding drawn as empty cells around it.

    Cells are as large as fit ``max_width`` pixels (at most 56), for a figure shown in half a column."""
    arr = np.asarray(values, dtype=float)
    ph, pw = padding
    if ph or pw:
        padded = np.full((arr.shape[0] + 2 * ph, arr.shape[1] + 2 * pw), np.nan)
        padded[ph : ph + arr.shape[0], pw : pw + arr.shape[1]] = arr
    else:
        padded = arr
    # Cells keep the input's own indices: padding cells are numbered −1, −2, … and n, n + 1, …
    rows_at = range(-ph, arr.shape[0] + ph)
    cols_at = range(-pw, arr.shape[1] + pw)
    cell = int(np.clip((max_width - 48) / padded.shape[1], 24, 56))
    fig = matrix_figure(padded, title, colorscale="Blues", fmt=fmt, rows=rows_at, cols=cols_at, cell=cell)
    fig.data[0].text = [["pad" if np.isnan(v) else format(v, fmt) for v in row] for row in padded]
    for r in rows:
        for c in cols:
            fig.add_shape(
                type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, line=dict(color=HIGHLIGHT, width=3)
            )
    return fig


def windows_1d_figure(
    in_size: int,
    windows: Sequence[tuple[int, int]],
    title: str,
    highlight: Sequence[int] = (),
    unit: str = "input index",
) -> go.Figure:
    """Each output position as a bar over the input indices its window covers (bars outlined in red are flagged)."""
    fig = go.Figure()
    flagged = set(highlight)
    for i, (s, e) in enumerate(windows):
        fig.add_trace(
            go.Bar(
                x=[e - s],
                base=[s - 0.5],
                y=[i],
                orientation="h",
                marker=dict(color="#1f77b4" if i not in flagged else "#ff9896", line=dict(width=1, color="#333")),
                hovertemplate=f"output {i}: indices {s}…{e - 1}<extra></extra>",
                showlegend=False,
            )
        )
    fig.update_yaxes(title="output position", autorange="reversed", dtick=1 if len(windows) <= 20 else None)
    fig.update_xaxes(title=unit, range=[-0.5, in_size - 0.5], dtick=1 if in_size <= 24 else None)
    fig.update_layout(title=title, bargap=0.25, height=120 + 22 * len(windows), margin=dict(l=0, r=0, t=40, b=0))
    return fig


def coverage_figure(counts: np.ndarray, title: str) -> go.Figure:
    """How many output windows read each input cell (2-D adaptive pooling)."""
    return matrix_figure(counts, title, colorscale="Oranges", fmt=".0f", max_width=720)
