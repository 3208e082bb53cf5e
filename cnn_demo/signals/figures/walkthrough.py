"""Animated walkthroughs: the kernel slides along the input, one output sample per frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.signals import format_number
from cnn_demo.signals.figures.style import (
    F_COLOUR,
    G_COLOUR,
    OUT_COLOUR,
    PRODUCT_COLOUR,
    play_controls,
    stem_dict,
    stem_trace,
    sum_annotation,
)


def _with_frames(fig: go.Figure, frames: list[dict]) -> go.Figure:
    """``fig`` with animation ``frames`` attached as they are (plain dicts), without plotly validating each one.

    The frames' traces come from the same builders as the figure's own, validated, first frame; validating every
    frame again cost most of a walkthrough's build (a new input on the 1-D convolution page).
    ``tests/signals/test_signals.py`` validates whole walkthroughs once.
    """
    spec = fig.to_dict()
    spec["frames"] = frames
    return go.Figure(spec, _validate=False)


def _frame_traces(kernel: dict, products: dict, output: dict, current: str) -> list[dict]:
    """Traces 1..4 of a walkthrough frame: the moved kernel, the products, the output so far, and a ring with the
    value written above it on the newest output (the last point of ``output``)."""
    x, y = int(output["x"][-1]), output["y"][-1]  # outputs sit at whole t
    ring = dict(
        type="scatter",
        x=[x],
        y=[y],
        mode="markers+text",
        text=[format_number(y)],
        textposition="top center",
        marker=dict(color="rgba(0,0,0,0)", size=18, line=dict(color="black", width=2)),
        name=current,
        hoverinfo="skip",
    )
    return [kernel, products, output, ring]


def _overlapping(inside: np.ndarray) -> str:
    n = int(inside.sum())
    return f"{n} overlapping {'sample' if n == 1 else 'samples'}"


def _span(values: np.ndarray) -> list[float]:
    """A y-axis range holding 0 and every value, with a fifth of the range spare above and below."""
    lo_v, hi_v = float(min(0.0, values.min())), float(max(0.0, values.max()))
    pad = 0.2 * (hi_v - lo_v or 1.0)
    return [lo_v - pad, hi_v + pad]


def _slider_steps(names: list[str]) -> list[dict]:
    """One slider step per animation frame, jumping straight to it."""
    return [
        dict(
            args=[[name], dict(frame=dict(duration=0, redraw=True), mode="immediate", transition=dict(duration=0))],
            label=name,
            method="animate",
        )
        for name in names
    ]


def _three_rows(titles: tuple[str, str, str]) -> go.Figure:
    """The walkthroughs' layout: input and kernel, products, output, stacked on one τ axis."""
    return make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.11, subplot_titles=titles)


def _walk_frame(f: np.ndarray, g: np.ndarray, full: np.ndarray, t: int) -> tuple[list[dict], str]:
    """Traces 1..4 of the walkthrough at output index t (plain dicts), and the frame title."""
    taus = np.arange(t - g.size + 1, t + 1)  # positions τ where g(t − τ) is defined
    g_shifted = g[t - taus]
    inside = (taus >= 0) & (taus < f.size)
    prod_tau = np.arange(f.size)
    j = t - prod_tau
    g_at = np.where((j >= 0) & (j < g.size), g[np.clip(j, 0, g.size - 1)], 0.0)
    products = f * g_at
    traces = _frame_traces(
        stem_dict(
            taus, g_shifted, "g(t − τ): kernel flipped, shifted to t", G_COLOUR, symbol="diamond", dash_offset=0.15
        ),
        stem_dict(prod_tau, products, "f(τ)·g(t − τ)", PRODUCT_COLOUR),
        stem_dict(np.arange(t + 1), full[: t + 1], "(f * g)(t) so far", OUT_COLOUR),
        "current t",
    )
    title = f"t = {t}: (f * g)({t}) = Σ f(τ)·g({t} − τ) = {format_number(full[t])}   ({_overlapping(inside)})"
    return traces, title


def convolution_walkthrough_figure(
    f: np.ndarray, g: np.ndarray, t: int, height: int = 760, sums: Sequence[str] | None = None
) -> go.Figure:
    """The step-through of the full convolution: f with the flipped kernel under it, the products, and the output
    growing as a stem plot. Has plotly animation frames (Play button and slider) for every t, starting at ``t``;
    frames redraw so the title (the current sum) follows the animation. ``sums`` (one written sum per t, as
    ``signals.written_sum`` writes it) are shown above the plots and follow the animation too.
    """
    f = np.asarray(f, float)
    g = np.asarray(g, float)
    full = np.convolve(f, g)
    n_out = full.size
    fig = _three_rows(
        (
            "f(τ) and the flipped kernel shifted to t, g(t − τ)",
            "products f(τ)·g(t − τ)",
            "output (f * g)(t), one value per t",
        )
    )
    fig.add_trace(stem_trace(np.arange(f.size), f, "f(τ)", F_COLOUR), row=1, col=1)
    first, title = _walk_frame(f, g, full, t)
    for trace, row in zip(first, (1, 2, 3, 3), strict=True):
        fig.add_trace(go.Scatter(trace), row=row, col=1)
    subplot_titles = [a.to_plotly_json() for a in fig.layout.annotations]
    if sums is not None:
        fig.add_annotation(**sum_annotation(sums[t]))
    frames = []
    for k in range(n_out):
        traces, ftitle = _walk_frame(f, g, full, k)
        layout: dict[str, object] = dict(title=dict(text=ftitle))
        if sums is not None:  # a frame's annotations replace the figure's: keep the subplot titles
            layout["annotations"] = [*subplot_titles, sum_annotation(sums[k])]
        frames.append(dict(data=traces, traces=[1, 2, 3, 4], name=str(k), layout=layout))
    lo, hi = -(g.size - 1) - 0.7, n_out - 1 + 0.7
    fig.update_xaxes(range=[lo, hi], dtick=1 if n_out <= 40 else None, zeroline=False)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="τ (top two rows) and t (output)", row=3, col=1)
    fg = np.concatenate([f, g])
    all_products = np.concatenate([f * v for v in g] + [[0.0]])
    fig.update_yaxes(range=_span(fg), row=1, col=1)
    fig.update_yaxes(range=_span(all_products), row=2, col=1)
    fig.update_yaxes(range=_span(full), row=3, col=1)
    slider_steps = _slider_steps([str(k) for k in range(n_out)])
    fig.update_layout(
        height=height + (80 if sums is not None else 0),
        margin=dict(l=10, r=10, t=50 + (80 if sums is not None else 0), b=150),
        title=dict(text=title, y=1, yref="container", yanchor="top", pad=dict(t=12)),
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
        **play_controls(int(t), slider_steps),
    )
    return _with_frames(fig, frames)


def _corr_frame(f: np.ndarray, g: np.ndarray, lags: np.ndarray, values: np.ndarray, t: int):
    """Traces 1..4 of the cross-correlation walkthrough at lag t, and the frame title."""
    taus = np.arange(g.size) - t  # g(t + τ) is defined where 0 ≤ t + τ < M
    inside = (taus >= 0) & (taus < f.size)
    tau = np.arange(f.size)
    j = t + tau
    g_at = np.where((j >= 0) & (j < g.size), g[np.clip(j, 0, g.size - 1)], 0.0)
    products = f * g_at
    k = int(t - lags[0])
    traces = _frame_traces(
        stem_dict(taus, g, "g(t + τ): kernel shifted by t, not flipped", G_COLOUR, symbol="diamond", dash_offset=0.15),
        stem_dict(tau, products, "f(τ)·g(t + τ)", PRODUCT_COLOUR),
        stem_dict(lags[: k + 1], values[: k + 1], "(f ⋆ g)(t) so far", OUT_COLOUR),
        "current lag",
    )
    title = f"t = {t}: (f ⋆ g)({t}) = Σ f(τ)·g({t} + τ) = {format_number(values[k])}   ({_overlapping(inside)})"
    return traces, title


def correlation_walkthrough_figure(f: np.ndarray, g: np.ndarray, t: int, height: int = 760) -> go.Figure:
    """The step-through of the cross-correlation, like :func:`convolution_walkthrough_figure` but with g only
    shifted (never flipped): f with g(t + τ) under it, the products, and the output growing lag by lag.
    Animation frames (Play button and slider) cover every lag −(L−1) … M−1, starting at ``t``.
    """
    f = np.asarray(f, float)
    g = np.asarray(g, float)
    lags = np.arange(-(f.size - 1), g.size)
    values = np.convolve(f[::-1], g)
    fig = _three_rows(
        (
            "f(τ) and the kernel shifted by the lag t, g(t + τ)",
            "products f(τ)·g(t + τ)",
            "output (f ⋆ g)(t), one value per lag t",
        )
    )
    fig.add_trace(stem_trace(np.arange(f.size), f, "f(τ)", F_COLOUR), row=1, col=1)
    first, title = _corr_frame(f, g, lags, values, t)
    for trace, row in zip(first, (1, 2, 3, 3), strict=True):
        fig.add_trace(go.Scatter(trace), row=row, col=1)
    frames = []
    for lag in lags:
        traces, ftitle = _corr_frame(f, g, lags, values, int(lag))
        frames.append(dict(data=traces, traces=[1, 2, 3, 4], name=str(lag), layout=dict(title=dict(text=ftitle))))
    span = max(f.size, g.size) - 1
    fig.update_xaxes(range=[-span - 0.7, span + 0.7], dtick=1 if 2 * span <= 40 else None, zeroline=False)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="τ (top two rows) and lag t (output)", row=3, col=1)
    fig.update_yaxes(range=_span(np.concatenate([f, g])), row=1, col=1)
    fig.update_yaxes(range=_span(np.concatenate([f * v for v in g] + [[0.0]])), row=2, col=1)
    fig.update_yaxes(range=_span(values), row=3, col=1)
    steps = _slider_steps([str(lag) for lag in lags])
    fig.update_layout(
        title_text=title,
        height=height,
        margin=dict(l=10, r=10, t=50, b=150),
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
        **play_controls(int(t - lags[0]), steps),
    )
    return _with_frames(fig, frames)
