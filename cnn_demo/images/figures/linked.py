"""Data and figures of the linked input/kernel/output view (CNN Explainer's hover view)."""

from __future__ import annotations

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.images.figures.filtering import CURRENT_COLOUR, READ_COLOUR
from cnn_demo.images.windows import ConvWindows, written_products


def format_cell(x: float) -> str:
    """A grid cell's number as the convolution figures write it: 3 significant digits, −0 as 0."""
    return f"{x + 0.0:.3g}"  # + 0.0 turns −0 into 0


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{min(255, max(0, round(v))):02x}" for v in rgb)


def _ink(rgb: tuple[float, float, float]) -> str:
    """Black or white, whichever reads better on the colour ``rgb`` (WCAG contrast of relative luminance)."""
    lin = [(v / 255) / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#111111" if (lum + 0.05) ** 2 > 0.0525 else "#ffffff"


def cell_colours(values: np.ndarray, lo: float, hi: float, scale: str) -> tuple[list[str], list[str]]:
    """Background (hex) and readable text colour of each value (flattened, row-major) on a colour ``scale``.

    ``"gray"`` is linear, as a picture is shown (128 → #808080); other names are plotly colour scales, so the
    cells look as they do in the page's heatmaps.
    """
    v = np.asarray(values, dtype=float).ravel()
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full(v.shape, 0.5)
    if scale == "gray":
        rgbs = [(255 * x, 255 * x, 255 * x) for x in t]
    else:
        rgbs = [pc.unlabel_rgb(c) for c in pc.sample_colorscale(pc.get_colorscale(scale), t.tolist())]
    return [_hex(c) for c in rgbs], [_ink(c) for c in rgbs]


def _grid(label: str, values: np.ndarray, texts: list[str], lo: float, hi: float, scale: str, show: bool) -> dict:
    bg, fg = cell_colours(values, lo, hi, scale)
    rows, cols = values.shape
    return {"label": label, "rows": rows, "cols": cols, "text": texts, "bg": bg, "fg": fg, "showText": show}


def linked_title(cw: ConvWindows, i: int, j: int) -> str:
    """The heading of output cell (i, j) in the linked view: its image position and its value."""
    bias = " + bias" if cw.bias else ""
    return f"Output row {cw.out_rows[i]}, col {cw.out_cols[j]} = Σ window × kernel{bias} = {cw.value(i, j):.6g}"


def _channel_grids(
    cw: ConvWindows, in_range: tuple[float, float] | None, in_scale: str, kernel_title: str
) -> tuple[list[dict], list[dict]]:
    """The input and kernel grids of each channel; padding or border-mode inputs are marked with a *."""
    n_ch, h, w = cw.inputs.shape
    kh, kw = cw.kernel_shape
    outside = cw.outside
    peak = float(np.abs(cw.weights).max()) or 1.0
    inputs, kernels = [], []
    for c in range(n_ch):
        suffix = f", channel {c}" if n_ch > 1 else ""
        x = cw.inputs[c]
        lo, hi = in_range if in_range is not None else (float(x.min()), float(x.max()) or 1.0)
        texts = [format_cell(x[r, q]) + ("*" if outside[r, q] else "") for r in range(h) for q in range(w)]
        inputs.append(_grid(f"Input{suffix}", x, texts, lo, hi, in_scale, w <= 16))
        k = cw.weights[c]
        k_texts = [format_cell(v) for v in k.ravel()]
        kernels.append(_grid(f"{kernel_title}{suffix}", k, k_texts, -peak, peak, "RdBu_r", max(kh, kw) <= 9))
    return inputs, kernels


def _window_traces(cw: ConvWindows, max_terms: int) -> list[dict]:
    """For each output cell, row by row: its window's input rows and columns, its heading and its products."""
    ho, wo = cw.output_shape
    traces = []
    for i in range(ho):
        for j in range(wo):
            rows, cols = cw.window(i, j)
            traces.append(
                {
                    "rows": rows.tolist(),
                    "cols": cols.tolist(),
                    "title": linked_title(cw, i, j),
                    "lines": written_products(cw, i, j, max_terms=max_terms),
                }
            )
    return traces


def linked_conv_data(
    cw: ConvWindows,
    selected: tuple[int, int] | None = None,
    *,
    in_range: tuple[float, float] | None = (0.0, 255.0),
    in_scale: str = "gray",
    kernel_title: str = "Kernel as laid on the input",
    max_terms: int = 81,
) -> dict:
    """CNN Explainer's linked view of a small convolution as plain JSON for the browser (``ui.linked``).

    Input (per channel), kernel (per channel) and output, each a grid of cells with their text (padding or
    border-mode inputs marked with a *), background and text colours: gray (or ``in_scale``) over ``in_range``
    for the input, blue–red around 0 for the kernel, viridis for the output. ``traces[i * Wo + j]`` holds what
    output cell (i, j) reads: the input rows and columns of its window, its heading and its products written out
    (:func:`cnn_demo.images.windows.written_products`), so the browser can light them up on hover without a rerun.
    ``selected`` is the cell shown while the mouse is elsewhere; ``title`` its heading.
    """
    ho, wo = cw.output_shape
    inputs, kernels = _channel_grids(cw, in_range, in_scale, kernel_title)
    out = cw.output
    output = _grid(
        "Output: hover or click a cell",
        out,
        [format_cell(v) for v in out.ravel()],
        float(out.min()),
        float(out.max()),
        "Viridis",
        True,
    )
    ok = selected is not None and 0 <= selected[0] < ho and 0 <= selected[1] < wo
    return {
        "inputs": inputs,
        "kernels": kernels,
        "output": output,
        "traces": _window_traces(cw, max_terms),
        "inRows": cw.in_rows.tolist(),
        "inCols": cw.in_cols.tolist(),
        "outRows": cw.out_rows.tolist(),
        "outCols": cw.out_cols.tolist(),
        "contiguous": cw.dilation == (1, 1),
        "colours": {"read": READ_COLOUR, "current": CURRENT_COLOUR},
        "selected": [int(selected[0]), int(selected[1])] if ok and selected else None,
        "title": linked_title(cw, *selected) if ok and selected else None,
    }


def products_figure(
    cw: ConvWindows,
    i: int,
    j: int,
    *,
    in_range: tuple[float, float] | None = (0.0, 255.0),
    in_scale: str = "gray",
) -> go.Figure:
    """setosa's product view for output cell (i, j): window ⊙ kernel = products per channel, and their sum."""
    n_ch = cw.inputs.shape[0]
    hood, weights, prods = cw.neighbourhood(i, j), cw.weights, cw.products(i, j)
    titles = []
    for c in range(n_ch):
        ch = f" (channel {c})" if n_ch > 1 else ""
        titles += [f"Window{ch}", f"× kernel{ch}", f"= products{ch}, Σ = {prods[c].sum():.4g}"]
    fig = make_subplots(rows=n_ch, cols=3, subplot_titles=titles, horizontal_spacing=0.05, vertical_spacing=0.12)
    peak_w = float(np.abs(weights).max()) or 1.0
    peak_p = float(np.abs(prods).max()) or 1.0
    for c in range(n_ch):
        for col, (v, scale, lo, hi) in enumerate(
            (
                (hood[c], in_scale, *(in_range or (None, None))),
                (weights[c], "RdBu_r", -peak_w, peak_w),
                (prods[c], "RdBu_r", -peak_p, peak_p),
            ),
            start=1,
        ):
            fig.add_trace(
                go.Heatmap(
                    z=v,
                    text=[[format_cell(x) for x in r] for r in v],
                    texttemplate="%{text}",
                    colorscale=scale,
                    zmin=lo,
                    zmax=hi,
                    showscale=False,
                    xgap=1,
                    ygap=1,
                    hovertemplate="%{z:.4g}<extra></extra>",
                ),
                row=c + 1,
                col=col,
            )
    fig.update_yaxes(autorange="reversed", showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain")
    for name in [n for n in fig.layout if n.startswith("yaxis")]:
        fig.layout[name].update(scaleanchor="x" + name[5:], constrain="domain")
    bias = f" + bias {cw.bias:.4g}" if cw.bias else ""
    fig.update_layout(
        title=f"Σ products{bias} = {cw.value(i, j):.6g}",
        height=int(min(900, 80 + n_ch * 200)),
        margin=dict(l=0, r=0, t=70, b=0),
    )
    return fig
