"""Figures of the convolution modes, the frequency view and Gaussian smoothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.signals import BOUNDARY_DESCRIPTIONS, FrequencyView, extend_signal
from cnn_demo.signals.figures.style import F_COLOUR, G_COLOUR, GREY, OUT_COLOUR, PRODUCT_COLOUR, plot_margin, stem_trace


def mode_span(n_full: int, len_f: int, len_g: int, mode: str) -> tuple[int, int]:
    """The ``[start, stop)`` indices of the full convolution that ``numpy.convolve(..., mode)`` returns."""
    if mode == "full":
        return 0, n_full
    if mode == "same":
        m = max(len_f, len_g)
        start = (n_full - m) // 2
        return start, start + m
    if mode == "valid":
        start = min(len_f, len_g) - 1
        return start, start + max(len_f, len_g) - min(len_f, len_g) + 1
    raise ValueError(f"mode must be 'full', 'same' or 'valid', not {mode!r}")


def modes_figure(full: np.ndarray, len_f: int, len_g: int, mode: str | None = None) -> go.Figure:
    """The full convolution with the parts kept by ``same`` and ``valid`` shaded; with ``mode``, that mode's
    part is drawn strong (the kept values in colour, the dropped ones grey) and named in the title."""
    full = np.asarray(full, float)
    n = full.size
    if mode is not None:
        start, stop = mode_span(n, len_f, len_g, mode)
        idx = np.arange(n)
        kept = (idx >= start) & (idx < stop)
        fig = go.Figure()
        if (~kept).any():
            fig.add_trace(stem_trace(idx[~kept], full[~kept], "dropped", "#bbbbbb"))
        fig.add_trace(stem_trace(idx[kept], full[kept], f"kept by {mode}", OUT_COLOUR))
        fig.add_vrect(
            x0=start - 0.45, x1=stop - 1 + 0.45, fillcolor=G_COLOUR, opacity=0.15, line_width=0,
            annotation_text=f"{mode}: {stop - start} values", annotation_position="top left",
        )  # fmt: skip
        fig.update_layout(
            title=f'mode="{mode}" keeps indices {start} … {stop - 1} of the {n} full values (grey: dropped)',
            height=300,
            margin=plot_margin("x"),
            xaxis_title="index in the full output",
            showlegend=False,
        )
        return fig
    fig = go.Figure(stem_trace(np.arange(n), full, "full", OUT_COLOUR))
    m = max(len_f, len_g)
    start_same = (n - m) // 2
    k = max(len_f, len_g) - min(len_f, len_g) + 1
    start_valid = min(len_f, len_g) - 1
    fig.add_vrect(
        x0=start_same - 0.45,
        x1=start_same + m - 1 + 0.45,
        fillcolor=G_COLOUR,
        opacity=0.12,
        line_width=0,
        annotation_text=f"same: {m} values",
        annotation_position="top left",
    )
    fig.add_vrect(
        x0=start_valid - 0.35,
        x1=start_valid + k - 1 + 0.35,
        fillcolor=None,
        line=dict(color=F_COLOUR, width=2, dash="dash"),
        annotation_text=f"valid: {k} values",
        annotation_position="top right",
    )
    fig.update_layout(
        title=f"full: {n} values; the shaded parts are what same and valid keep",
        height=300,
        margin=plot_margin("x"),
        xaxis_title="index in the full output",
        showlegend=False,
    )
    return fig


def frequency_figure(view: FrequencyView, direct: np.ndarray) -> go.Figure:
    """|FFT f|, |FFT g| and their product on the same frequencies, and the inverse FFT next to ``direct`` = f * g."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("magnitude of the spectra", "inverse FFT of the product = f * g"),
        horizontal_spacing=0.1,
    )
    for values, name, colour in (
        (view.f_spectrum, "|FFT(f)|", F_COLOUR),
        (view.g_spectrum, "|FFT(g)|", G_COLOUR),
        (view.product, "|FFT(f)·FFT(g)|", OUT_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(x=view.frequencies, y=np.abs(values), mode="lines+markers", name=name, line=dict(color=colour)),
            row=1,
            col=1,
        )
    idx = np.arange(view.convolution.size)
    fig.add_trace(stem_trace(idx, view.convolution, "inverse FFT", OUT_COLOUR), row=1, col=2)
    fig.add_trace(
        go.Scatter(
            x=idx,
            y=np.asarray(direct, float),
            mode="markers",
            marker=dict(symbol="x", color="black", size=7),
            name="direct f * g",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="frequency (cycles per sample)", row=1, col=1)
    fig.update_xaxes(title_text="t", row=1, col=2)
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def kernel_figure(kernel: np.ndarray, sigma: float) -> go.Figure:
    """The sampled Gaussian kernel at t = −r … r, with the continuous curve for comparison."""
    kernel = np.asarray(kernel, float)
    r = kernel.size // 2
    t = np.arange(-r, r + 1)
    fig = go.Figure(stem_trace(t, kernel, "sampled, normalised g(t)", G_COLOUR, hover="t=%{x}: %{y:.4f}"))
    fine = np.linspace(-r - 0.5, r + 0.5, 400)
    curve = np.exp(-0.5 * (fine / sigma) ** 2) / np.sqrt(2 * np.pi * sigma**2)
    fig.add_trace(go.Scatter(x=fine, y=curve, mode="lines", name="1/√(2πσ²)·exp(−t²/2σ²)", line=dict(color=GREY)))
    fig.update_layout(
        title=f"kernel: {kernel.size} samples (radius {r}), sum {kernel.sum():.6f}",
        height=300,
        margin=plot_margin("x"),
        xaxis_title="t",
        legend=dict(orientation="h", y=-0.3),
    )
    return fig


def smoothing_figure(clean: np.ndarray, noisy: np.ndarray, smooth: np.ndarray, sigma: float) -> go.Figure:
    """The clean signal, its noisy copy and the Gaussian-smoothed noisy copy."""
    t = np.arange(len(noisy))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=noisy, mode="lines", name="noisy input f", line=dict(color="#bbbbbb")))
    fig.add_trace(go.Scatter(x=t, y=clean, mode="lines", name="clean signal", line=dict(color=F_COLOUR, dash="dot")))
    fig.add_trace(
        go.Scatter(x=t, y=smooth, mode="lines", name=f"smoothed, σ = {sigma:g}", line=dict(color=OUT_COLOUR, width=3))
    )
    fig.update_layout(
        title="Gaussian smoothing",
        height=340,
        margin=plot_margin("x"),
        xaxis_title="t",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def error_curve_figure(sigmas: np.ndarray, errors: np.ndarray, sigma: float, current: float) -> go.Figure:
    """RMSE to the clean signal against σ, with the current σ marked."""
    fig = go.Figure(go.Scatter(x=sigmas, y=errors, mode="lines", name="error", line=dict(color=PRODUCT_COLOUR)))
    fig.add_trace(
        go.Scatter(x=[sigma], y=[current], mode="markers", name="current σ", marker=dict(size=12, color="black"))
    )
    best = int(np.argmin(errors))
    # On a log axis plotly places annotations by log10 of the value.
    fig.add_annotation(
        x=float(np.log10(sigmas[best])), y=errors[best], text=f"best σ ≈ {sigmas[best]:.2g}", showarrow=True, ay=-40
    )
    fig.update_layout(
        title="distance to the clean signal (RMSE) against σ",
        height=300,
        margin=plot_margin("x"),
        xaxis_title="σ",
        yaxis_title="RMSE",
        xaxis=dict(
            type="log",
            tickvals=[0.2, 0.5, 1, 2, 5, 10, 20, 40],
            ticktext=["0.2", "0.5", "1", "2", "5", "10", "20", "40"],
        ),
        showlegend=False,
    )
    return fig


def boundary_figure(x: np.ndarray, radius: int, modes: Sequence[str]) -> go.Figure:
    """For each boundary mode, the signal (solid) with the ``radius`` samples the mode invents on each side."""
    x = np.asarray(x, float)
    fig = make_subplots(
        rows=len(modes),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=[f"{m}: {BOUNDARY_DESCRIPTIONS[m]}" for m in modes],
    )
    idx = np.arange(-radius, x.size + radius)
    for row, mode in enumerate(modes, start=1):
        ext = extend_signal(x, radius, mode)
        outside = (idx < 0) | (idx >= x.size)
        fig.add_trace(stem_trace(idx[~outside], ext[~outside], "signal", F_COLOUR, size=6), row=row, col=1).add_trace(
            stem_trace(idx[outside], ext[outside], "invented by the mode", G_COLOUR, size=6), row=row, col=1
        )
        fig.add_vrect(x0=-radius - 0.5, x1=-0.5, fillcolor=G_COLOUR, opacity=0.08, line_width=0, row=row, col=1)
        fig.add_vrect(
            x0=x.size - 0.5, x1=x.size + radius - 0.5, fillcolor=G_COLOUR, opacity=0.08, line_width=0, row=row, col=1
        )
    for i, tr in enumerate(fig.data):
        tr.showlegend = i < 2
    fig.update_annotations(font_size=12)
    fig.update_layout(
        height=140 * len(modes) + 60, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.05)
    )
    return fig


def edges_figure(x: np.ndarray, outputs: dict[str, np.ndarray]) -> go.Figure:
    """The smoothed signal near its edges for each boundary mode."""
    t = np.arange(len(x))
    fig = go.Figure(go.Scatter(x=t, y=x, mode="markers", name="input", marker=dict(color="#bbbbbb", size=5)))
    for mode, y in outputs.items():
        fig.add_trace(go.Scatter(x=t, y=y, mode="lines", name=mode))
    fig.update_layout(
        title="smoothed output with each boundary mode (differences sit at the edges)",
        height=320,
        margin=plot_margin("x"),
        xaxis_title="t",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig
