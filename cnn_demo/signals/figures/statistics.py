"""Figures of correlation and of convolution in statistics: densities, dice, kernel density estimates."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnn_demo.signals.figures.style import F_COLOUR, G_COLOUR, GREY, MAX_STEMS, OUT_COLOUR, PRODUCT_COLOUR, plot_margin


def two_signals_figure(f: np.ndarray, g: np.ndarray | None = None, names: tuple[str, str] = ("f", "g")) -> go.Figure:
    """One or two signals on one time axis."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(y=f, mode="lines", name=names[0], line=dict(color=F_COLOUR)))
    if g is not None:
        fig.add_trace(go.Scatter(y=g, mode="lines", name=names[1], line=dict(color=G_COLOUR)))
    fig.update_layout(showlegend=True)
    fig.update_layout(height=280, margin=plot_margin(), xaxis_title="τ", legend=dict(orientation="h", y=-0.3))
    return fig


def correlation_figure(
    lags: np.ndarray, values: np.ndarray, title: str, mark: int | None = None, mark_label: str = ""
) -> go.Figure:
    """A correlation against lag, with one lag marked (the peak, or the period)."""
    lags = np.asarray(lags)
    values = np.asarray(values, float)
    fig = go.Figure(go.Scatter(x=lags, y=values, mode="lines", name="correlation", line=dict(color=PRODUCT_COLOUR)))
    if mark is not None:
        y = float(values[np.searchsorted(lags, mark)])
        fig.add_trace(go.Scatter(x=[mark], y=[y], mode="markers", marker=dict(size=12, color="black"), name=mark_label))
        fig.add_annotation(x=mark, y=y, text=mark_label, showarrow=True, ay=-35)
    fig.add_vline(x=0, line=dict(color=GREY, dash="dot"))
    fig.update_layout(title=title, height=320, margin=plot_margin("x"), xaxis_title="lag t", showlegend=False)
    return fig


def sum_density_figure(
    grid: np.ndarray, density: np.ndarray, samples: np.ndarray, exact: np.ndarray | None = None, label: str = "X + Y"
) -> go.Figure:
    """A Monte-Carlo histogram of X + Y with the density obtained by convolution (and the exact one when known)."""
    fig = go.Figure(
        go.Histogram(
            x=samples, histnorm="probability density", nbinsx=60, name="simulation", marker_color="#c7d7ef", opacity=0.9
        )
    )
    fig.add_trace(
        go.Scatter(
            x=grid, y=density, mode="lines", name="p_X * p_Y (convolution)", line=dict(color=OUT_COLOUR, width=3)
        )
    )
    if exact is not None:
        fig.add_trace(
            go.Scatter(x=grid, y=exact, mode="lines", name="exact density", line=dict(color="black", dash="dash"))
        )
    fig.update_layout(
        title=f"density of {label}",
        height=340,
        margin=plot_margin("x"),
        bargap=0.02,
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def lines_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], xaxis_title: str = "", title: str = "") -> go.Figure:
    """Several curves (name → (x, y)) on one axis, drawn as lines with markers."""
    fig = go.Figure()
    for name, (x, y) in curves.items():
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers" if len(x) <= MAX_STEMS else "lines", name=name))
    fig.update_layout(
        title=title,
        height=280,
        margin=plot_margin(title),
        xaxis_title=xaxis_title,
        legend=dict(orientation="h", y=-0.3),
    )
    return fig


def dice_figure(totals: np.ndarray, pmf: np.ndarray, rolls: np.ndarray) -> go.Figure:
    """Observed frequencies of the dice totals as bars, and the convolved pmf as markers."""
    counts = np.bincount(np.asarray(rolls, int) - int(totals[0]), minlength=len(totals))[: len(totals)]
    fig = go.Figure(go.Bar(x=totals, y=counts / max(len(rolls), 1), name="simulated frequency", marker_color="#c7d7ef"))
    fig.add_trace(
        go.Scatter(x=totals, y=pmf, mode="markers+lines", name="pmf by convolution", marker=dict(color=OUT_COLOUR))
    )
    fig.update_layout(
        title="distribution of the total",
        height=340,
        margin=plot_margin("x"),
        xaxis_title="total",
        yaxis_title="probability",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def kde_figure(
    data: np.ndarray, grid: np.ndarray, estimate: np.ndarray, by_convolution: np.ndarray, truth: np.ndarray
) -> go.Figure:
    """Data as a rug, the kernel density estimate (direct and by convolution) and the true density."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=grid, y=truth, mode="lines", name="true density", line=dict(color="black", dash="dash")))
    fig.add_trace(go.Scatter(x=grid, y=estimate, mode="lines", name="KDE", line=dict(color=OUT_COLOUR, width=3)))
    fig.add_trace(
        go.Scatter(
            x=grid,
            y=by_convolution,
            mode="lines",
            name="spikes * Gaussian (convolution)",
            line=dict(color=G_COLOUR, dash="dot"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data,
            y=np.full(len(data), -0.02 * float(np.max(estimate))),
            mode="markers",
            name="data",
            marker=dict(symbol="line-ns-open", size=10, color=F_COLOUR),
        )
    )
    fig.update_layout(
        title="kernel density estimate", height=340, margin=plot_margin("x"), legend=dict(orientation="h", y=-0.2)
    )
    return fig
