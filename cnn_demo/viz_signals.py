"""Plotly figures for the Signals pages. Pure functions: arrays in, figures out (no streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.signals import BOUNDARY_DESCRIPTIONS, FrequencyView, extend_signal, format_number

F_COLOUR = "#1f77b4"
G_COLOUR = "#ff7f0e"
OUT_COLOUR = "#2ca02c"
PRODUCT_COLOUR = "#9467bd"
GREY = "#888888"
#: Longer sequences are drawn as lines rather than stems.
MAX_STEMS = 1000


def _margin(title: str = "") -> dict:
    return dict(l=10, r=10, t=40 if title else 10, b=10)


def stem_trace(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    name: str,
    colour: str,
    *,
    symbol: str = "circle",
    size: int = 9,
    dash_offset: float = 0.0,
    hover: str = "%{x}: %{y}",
) -> go.Scatter:
    """A stem plot (a marker on a vertical line from 0) as one scatter trace, so animation frames can update it.

    Above :data:`MAX_STEMS` points the stems would merge into a solid area, so a plain line is drawn instead.
    """
    x = np.asarray(x, float) + dash_offset
    y = np.asarray(y, float)
    if x.size > MAX_STEMS:
        return go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=colour), hovertemplate=hover)
    up = np.where(y < 0, -y, 0.0)
    down = np.where(y > 0, y, 0.0)
    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=name,
        marker=dict(color=colour, size=size, symbol=symbol),
        error_y=dict(type="data", symmetric=False, array=up, arrayminus=down, width=0, color=colour, thickness=2),
        hovertemplate=hover + f"<extra>{name}</extra>",
    )


def _walk_frame(f: np.ndarray, g: np.ndarray, full: np.ndarray, t: int) -> tuple[list[go.Scatter], str]:
    """Traces 1..4 of the walkthrough at output index t, and the frame title."""
    taus = np.arange(t - g.size + 1, t + 1)  # positions τ where g(t − τ) is defined
    g_shifted = g[t - taus]
    inside = (taus >= 0) & (taus < f.size)
    prod_tau = np.arange(f.size)
    j = t - prod_tau
    g_at = np.where((j >= 0) & (j < g.size), g[np.clip(j, 0, g.size - 1)], 0.0)
    products = f * g_at
    traces = [
        stem_trace(
            taus, g_shifted, "g(t − τ): kernel flipped, shifted to t", G_COLOUR, symbol="diamond", dash_offset=0.15
        ),
        stem_trace(prod_tau, products, "f(τ)·g(t − τ)", PRODUCT_COLOUR),
        stem_trace(np.arange(t + 1), full[: t + 1], "(f * g)(t) so far", OUT_COLOUR),
        go.Scatter(
            x=[t],
            y=[full[t]],
            mode="markers+text",
            text=[format_number(full[t])],
            textposition="top center",
            marker=dict(color="rgba(0,0,0,0)", size=18, line=dict(color="black", width=2)),
            name="current t",
            hoverinfo="skip",
        ),
    ]
    overlap = int(inside.sum())
    samples = "sample" if overlap == 1 else "samples"
    title = f"t = {t}: (f * g)({t}) = Σ f(τ)·g({t} − τ) = {format_number(full[t])}   ({overlap} overlapping {samples})"
    return traces, title


def _sum_annotation(text: str) -> dict:
    """A written sum ``(f*g)(t) = symbols = products = value`` as a left-aligned three-line note above the plots."""
    head, _, rest = text.partition(" = ")
    parts = rest.split(" = ")
    lines = [f"{head} = {parts[0]}", *(f"{' ' * len(head)} = {p}" for p in parts[1:])]
    return dict(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=1.0,
        yshift=26,
        xanchor="left",
        yanchor="bottom",
        align="left",
        showarrow=False,
        font=dict(family="monospace", size=12),
        name="written sum",
    )


def _play_controls(active: int, steps: list[dict]) -> dict:
    """Play/Pause buttons and a "t = " slider under an animated walkthrough (layout keys for ``update_layout``)."""
    play = dict(frame=dict(duration=700, redraw=True), fromcurrent=True, transition=dict(duration=0))
    pause = dict(frame=dict(duration=0, redraw=True), mode="immediate")
    return dict(
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0,
                y=-0.1,
                xanchor="left",
                yanchor="top",
                pad=dict(r=10, t=0),
                buttons=[
                    dict(label="▶ Play", method="animate", args=[None, play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], pause]),
                ],
            )
        ],
        sliders=[
            dict(
                active=active,
                steps=steps,
                x=0.2,
                len=0.8,
                y=-0.08,
                yanchor="top",
                currentvalue=dict(prefix="t = "),
                pad=dict(t=0, b=0),
            )
        ],
    )


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
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.11,
        subplot_titles=(
            "f(τ) and the flipped kernel shifted to t, g(t − τ)",
            "products f(τ)·g(t − τ)",
            "output (f * g)(t), one value per t",
        ),
    )
    fig.add_trace(stem_trace(np.arange(f.size), f, "f(τ)", F_COLOUR), row=1, col=1)
    first, title = _walk_frame(f, g, full, t)
    for trace, row in zip(first, (1, 2, 3, 3), strict=True):
        fig.add_trace(trace, row=row, col=1)
    subplot_titles = [a.to_plotly_json() for a in fig.layout.annotations]
    if sums is not None:
        fig.add_annotation(**_sum_annotation(sums[t]))
    frames = []
    for k in range(n_out):
        traces, ftitle = _walk_frame(f, g, full, k)
        layout = dict(title_text=ftitle)
        if sums is not None:  # a frame's annotations replace the figure's: keep the subplot titles
            layout["annotations"] = [*subplot_titles, _sum_annotation(sums[k])]
        # Plain dicts: fig.frames validates them once (a go.Frame would be validated twice).
        frames.append(dict(data=traces, traces=[1, 2, 3, 4], name=str(k), layout=layout))
    fig.frames = frames
    lo, hi = -(g.size - 1) - 0.7, n_out - 1 + 0.7
    fig.update_xaxes(range=[lo, hi], dtick=1 if n_out <= 40 else None, zeroline=False)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="τ (top two rows) and t (output)", row=3, col=1)

    def _span(values: np.ndarray) -> list[float]:
        lo_v, hi_v = float(min(0.0, values.min())), float(max(0.0, values.max()))
        pad = 0.2 * (hi_v - lo_v or 1.0)
        return [lo_v - pad, hi_v + pad]

    fg = np.concatenate([f, g])
    all_products = np.concatenate([f * v for v in g] + [[0.0]])
    fig.update_yaxes(range=_span(fg), row=1, col=1)
    fig.update_yaxes(range=_span(all_products), row=2, col=1)
    fig.update_yaxes(range=_span(full), row=3, col=1)
    slider_steps = [
        dict(
            args=[[str(k)], dict(frame=dict(duration=0, redraw=True), mode="immediate", transition=dict(duration=0))],
            label=str(k),
            method="animate",
        )
        for k in range(n_out)
    ]
    fig.update_layout(
        height=height + (80 if sums is not None else 0),
        margin=dict(l=10, r=10, t=50 + (80 if sums is not None else 0), b=150),
        title=dict(text=title, y=1, yref="container", yanchor="top", pad=dict(t=12)),
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
        **_play_controls(int(t), slider_steps),
    )
    return fig


def _corr_frame(f: np.ndarray, g: np.ndarray, lags: np.ndarray, values: np.ndarray, t: int):
    """Traces 1..4 of the cross-correlation walkthrough at lag t, and the frame title."""
    taus = np.arange(g.size) - t  # g(t + τ) is defined where 0 ≤ t + τ < M
    inside = (taus >= 0) & (taus < f.size)
    tau = np.arange(f.size)
    j = t + tau
    g_at = np.where((j >= 0) & (j < g.size), g[np.clip(j, 0, g.size - 1)], 0.0)
    products = f * g_at
    k = int(t - lags[0])
    traces = [
        stem_trace(taus, g, "g(t + τ): kernel shifted by t, not flipped", G_COLOUR, symbol="diamond", dash_offset=0.15),
        stem_trace(tau, products, "f(τ)·g(t + τ)", PRODUCT_COLOUR),
        stem_trace(lags[: k + 1], values[: k + 1], "(f ⋆ g)(t) so far", OUT_COLOUR),
        go.Scatter(
            x=[t],
            y=[values[k]],
            mode="markers+text",
            text=[format_number(values[k])],
            textposition="top center",
            marker=dict(color="rgba(0,0,0,0)", size=18, line=dict(color="black", width=2)),
            name="current lag",
            hoverinfo="skip",
        ),
    ]
    overlap = int(inside.sum())
    samples = "sample" if overlap == 1 else "samples"
    title = (
        f"t = {t}: (f ⋆ g)({t}) = Σ f(τ)·g({t} + τ) = {format_number(values[k])}   ({overlap} overlapping {samples})"
    )
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
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.11,
        subplot_titles=(
            "f(τ) and the kernel shifted by the lag t, g(t + τ)",
            "products f(τ)·g(t + τ)",
            "output (f ⋆ g)(t), one value per lag t",
        ),
    )
    fig.add_trace(stem_trace(np.arange(f.size), f, "f(τ)", F_COLOUR), row=1, col=1)
    first, title = _corr_frame(f, g, lags, values, t)
    for trace, row in zip(first, (1, 2, 3, 3), strict=True):
        fig.add_trace(trace, row=row, col=1)
    frames = []
    for lag in lags:
        traces, ftitle = _corr_frame(f, g, lags, values, int(lag))
        frames.append(dict(data=traces, traces=[1, 2, 3, 4], name=str(lag), layout=dict(title_text=ftitle)))
    fig.frames = frames
    span = max(f.size, g.size) - 1
    fig.update_xaxes(range=[-span - 0.7, span + 0.7], dtick=1 if 2 * span <= 40 else None, zeroline=False)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text="τ (top two rows) and lag t (output)", row=3, col=1)

    def _span(v: np.ndarray) -> list[float]:
        lo_v, hi_v = float(min(0.0, v.min())), float(max(0.0, v.max()))
        pad = 0.2 * (hi_v - lo_v or 1.0)
        return [lo_v - pad, hi_v + pad]

    fig.update_yaxes(range=_span(np.concatenate([f, g])), row=1, col=1)
    fig.update_yaxes(range=_span(np.concatenate([f * v for v in g] + [[0.0]])), row=2, col=1)
    fig.update_yaxes(range=_span(values), row=3, col=1)
    steps = [
        dict(
            args=[[str(lag)], dict(frame=dict(duration=0, redraw=True), mode="immediate", transition=dict(duration=0))],
            label=str(lag),
            method="animate",
        )
        for lag in lags
    ]
    fig.update_layout(
        title_text=title,
        height=height,
        margin=dict(l=10, r=10, t=50, b=150),
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
        **_play_controls(int(t - lags[0]), steps),
    )
    return fig


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
            margin=_margin("x"),
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
        margin=_margin("x"),
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
        margin=_margin("x"),
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
        margin=_margin("x"),
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
        margin=_margin("x"),
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
        margin=_margin("x"),
        xaxis_title="t",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def two_signals_figure(f: np.ndarray, g: np.ndarray | None = None, names: tuple[str, str] = ("f", "g")) -> go.Figure:
    """One or two signals on one time axis."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(y=f, mode="lines", name=names[0], line=dict(color=F_COLOUR)))
    if g is not None:
        fig.add_trace(go.Scatter(y=g, mode="lines", name=names[1], line=dict(color=G_COLOUR)))
    fig.update_layout(showlegend=True)
    fig.update_layout(height=280, margin=_margin(), xaxis_title="τ", legend=dict(orientation="h", y=-0.3))
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
    fig.update_layout(title=title, height=320, margin=_margin("x"), xaxis_title="lag t", showlegend=False)
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
        title=f"density of {label}", height=340, margin=_margin("x"), bargap=0.02, legend=dict(orientation="h", y=-0.2)
    )
    return fig


def lines_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], xaxis_title: str = "", title: str = "") -> go.Figure:
    """Several curves (name → (x, y)) on one axis, drawn as lines with markers."""
    fig = go.Figure()
    for name, (x, y) in curves.items():
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers" if len(x) <= MAX_STEMS else "lines", name=name))
    fig.update_layout(
        title=title, height=280, margin=_margin(title), xaxis_title=xaxis_title, legend=dict(orientation="h", y=-0.3)
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
        margin=_margin("x"),
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
        title="kernel density estimate", height=340, margin=_margin("x"), legend=dict(orientation="h", y=-0.2)
    )
    return fig
