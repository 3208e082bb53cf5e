"""Plotly figures for the 2-D filtering and convolution-arithmetic pages. Pure functions: arrays in, figures out."""

from __future__ import annotations

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_demo.arithmetic import ReceptiveField, TransposedSteps, window_cells
from cnn_demo.filters import PixelBreakdown
from cnn_demo.viz import fixed_margins, image_figure, matrix_figure
from cnn_demo.windows import ConvWindows, written_products

INPUT_COLOUR = "#dbe9f6"
PAD_COLOUR = "#f2f2f2"
READ_COLOUR = "#ff7f0e"
OUTPUT_COLOUR = "#c7e9c0"
CURRENT_COLOUR = "#2ca02c"


def kernel_figure(kernel: np.ndarray, title: str = "Kernel") -> go.Figure:
    """A kernel drawn cell by cell with its weights written in; blue negative, red positive."""
    k = np.asarray(kernel, dtype=float)
    peak = float(np.abs(k).max()) or 1.0
    fmt = ".3g"
    fig = matrix_figure(k, title, colorscale="RdBu_r", fmt=fmt, zmin=-peak, zmax=peak, annotate=k.size <= 121)
    side = 60 + 34 * max(k.shape)
    fig.update_layout(height=min(side, 420))
    return fig


def block_mean(values: np.ndarray, max_side: int) -> tuple[np.ndarray, int]:
    """Shrink a 2-D array by averaging f×f blocks so its longer side is at most ``max_side``; returns it and f."""
    arr = np.asarray(values, dtype=float)
    f = max(1, -(-max(arr.shape) // max_side))
    if f == 1:
        return arr, 1
    h, w = (arr.shape[0] // f) * f, (arr.shape[1] // f) * f
    return arr[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3)), f


def spectrum_figure(values: np.ndarray, title: str, colorscale: str = "Viridis", max_side: int = 128) -> go.Figure:
    """A centred 2-D spectrum (zero frequency in the middle) as a heatmap with a colour bar.

    Large spectra are block-averaged to ``max_side`` cells a side so the browser stays fast.
    """
    full = np.asarray(values, dtype=float)
    arr, f = block_mean(full, max_side)
    arr = arr.astype(np.float32)  # half the bytes of float64; hover shows 3 significant digits
    h, w = arr.shape
    fig = go.Figure(
        go.Heatmap(
            z=arr,
            x=(np.arange(w) - w // 2) * f,
            y=(np.arange(h) - h // 2) * f,
            colorscale=colorscale,
            colorbar=dict(thickness=10),
            hovertemplate="frequency (%{y}, %{x})<br>%{z:.3g}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", title="vertical frequency")
    fig.update_xaxes(title="horizontal frequency")
    fig.update_layout(title=title, margin=dict(l=0, r=0, t=30, b=0), height=330)
    return fixed_margins(fig, 62, 48, right=10)


def border_figure(padded: np.ndarray, offset: tuple[int, int], size: int, title: str, height: int = 210) -> go.Figure:
    """A crop with invented border pixels; the real image (``size`` a side, starting at ``offset``) is outlined."""
    arr = np.asarray(padded, dtype=float)
    fig = _plain_image(arr, title, height)
    fig.add_shape(
        type="rect",
        x0=offset[1] - 0.5,
        y0=offset[0] - 0.5,
        x1=offset[1] + size - 0.5,
        y1=offset[0] + size - 0.5,
        line=dict(color=READ_COLOUR, width=2, dash="dash"),
    )
    return fig


def _plain_image(arr: np.ndarray, title: str, height: int) -> go.Figure:
    fig = image_figure(arr, title, height)
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    return fixed_margins(fig, 0, 0)


def small_image_figure(image: np.ndarray, title: str = "", height: int = 180) -> go.Figure:
    """A small image without axes, for rows of panels (values 0..255)."""
    return _plain_image(np.asarray(image, dtype=float), title, height)


def breakdown_figure(b: PixelBreakdown) -> go.Figure:
    """The pixel inspector: neighbourhood × (flipped) kernel = products, side by side, with values written in."""
    titles = ("Neighbourhood (input)", "Kernel as laid on the image", f"Products, sum = {b.total:.4g}")
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.04)
    annotate = b.weights.size <= 81
    outside = b.outside
    for col, (values, scale) in enumerate(
        ((b.neighbourhood, "gray"), (b.weights, "RdBu_r"), (b.products, "RdBu_r")), start=1
    ):
        v = np.asarray(values, dtype=float)
        if scale == "gray":
            zmin, zmax = 0.0, 255.0
        else:
            peak = float(np.abs(v).max()) or 1.0
            zmin, zmax = -peak, peak
        text = [
            [f"{x:.3g}" + ("*" if outside[i, j] and col != 2 else "") for j, x in enumerate(r)] for i, r in enumerate(v)
        ]
        fig.add_trace(
            go.Heatmap(
                z=v,
                x=b.cols,
                y=b.rows,
                text=text,
                texttemplate="%{text}" if annotate else None,
                colorscale=scale,
                zmin=zmin,
                zmax=zmax,
                showscale=False,
                xgap=1,
                ygap=1,
                hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col, dtick=1)
        fig.update_xaxes(row=1, col=col, dtick=1)
    fig.update_layout(margin=dict(l=0, r=0, t=40, b=0), height=320)
    return fixed_margins(fig, 34, 22)


#: Discrete colours of the animated grid, by cell code.
_GRID_CODES = {0: PAD_COLOUR, 1: INPUT_COLOUR, 2: READ_COLOUR, 3: OUTPUT_COLOUR, 4: CURRENT_COLOUR}


def _grid_colorscale() -> list[list]:
    n = len(_GRID_CODES)
    scale = []
    for code, colour in _GRID_CODES.items():
        scale += [[code / n, colour], [(code + 1) / n, colour]]
    return scale


def _grid_canvas(
    h: int, w: int, pad: tuple[int, int], out_shape: tuple[int, int], read: list[tuple[int, int]], current
) -> tuple[np.ndarray, list[list[str]]]:
    """One frame as a grid of cell codes: padded input on the left, output on the right, a gap between."""
    ph, pw = pad
    oh, ow = out_shape
    left_w = w + 2 * pw
    rows, cols = max(h + 2 * ph, oh), left_w + 2 + ow
    z = np.full((rows, cols), np.nan)
    text = [["" for _ in range(cols)] for _ in range(rows)]
    for r in range(h + 2 * ph):
        for c in range(left_w):
            ir, ic = r - ph, c - pw
            inside = 0 <= ir < h and 0 <= ic < w
            z[r, c] = 1 if inside else 0
            text[r][c] = f"{'input' if inside else 'padding'} row {ir}, col {ic}"
    for ir, ic in read:
        z[ir + ph, ic + pw] = 2
    for r in range(oh):
        for c in range(ow):
            z[r, left_w + 2 + c] = 4 if (r, c) == current else 3
            text[r][left_w + 2 + c] = f"output row {r}, col {c}"
    return z, text


def _grid_heatmap(z: np.ndarray, text: list[list[str]]) -> go.Heatmap:
    n = len(_GRID_CODES)
    return go.Heatmap(
        z=z,
        text=text,
        hovertemplate="%{text}<extra></extra>",
        colorscale=_grid_colorscale(),
        zmin=0,
        zmax=n,
        showscale=False,
        xgap=2,
        ygap=2,
    )


def conv_grid_figure(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    max_frames: int = 150,
) -> go.Figure:
    """An animation (plotly frames with a play button and a slider): for each output cell in turn (green, right),
    the input cells its kernel reads (orange) on the padded input (blue; grey border = padding)."""
    cells = window_cells(size, kernel, stride, padding, dilation)
    h, w = size
    out_shape = (max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1)
    keys = sorted(cells)[:max_frames]

    def title(k: tuple[int, int]) -> str:
        return f"Output cell ({k[0]}, {k[1]}) reads {len(cells[k])} input cells (orange)"

    frames = []
    for k in keys:
        z, text = _grid_canvas(h, w, padding, out_shape, cells[k], k)
        frames.append(go.Frame(data=[_grid_heatmap(z, text)], name=f"{k[0]},{k[1]}", layout=go.Layout(title=title(k))))
    z, text = _grid_canvas(h, w, padding, out_shape, cells[keys[0]], keys[0])
    fig = go.Figure(data=[_grid_heatmap(z, text)], frames=frames)
    steps = [
        dict(
            method="animate",
            label=f"{k[0]},{k[1]}",
            args=[[f"{k[0]},{k[1]}"], dict(mode="immediate", frame=dict(duration=0, redraw=True))],
        )
        for k in keys
    ]
    rows = z.shape[0]
    fig.update_layout(
        title=title(keys[0]),
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=40),
                buttons=[
                    dict(
                        label="▶ Play",
                        method="animate",
                        args=[None, dict(frame=dict(duration=600, redraw=True), fromcurrent=True)],
                    ),
                    dict(
                        label="❚❚ Pause",
                        method="animate",
                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))],
                    ),
                ],
            )
        ],
        sliders=[dict(steps=steps, x=0.22, len=0.78, y=0, pad=dict(t=30), currentvalue=dict(prefix="output cell "))],
        margin=dict(l=0, r=0, t=40, b=0),
        height=min(760, max(340, 24 * rows + 190)),
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", visible=False)
    fig.update_xaxes(visible=False, constrain="domain")
    return fig


def receptive_field_figure(rows: list[ReceptiveField]) -> go.Figure:
    """Bar chart of receptive-field size after each layer, with the jump (product of strides) as a line."""
    names = [f"{i}. {r.name}" for i, r in enumerate(rows, start=1)]
    fig = go.Figure(
        go.Bar(x=names, y=[r.size for r in rows], name="receptive field (pixels)", text=[r.size for r in rows])
    )
    fig.add_trace(go.Scatter(x=names, y=[r.jump for r in rows], name="jump (product of strides)", mode="lines+markers"))
    fig.update_layout(
        margin=dict(l=0, r=0, t=30, b=0), height=320, yaxis_title="input pixels", title="Receptive field growth"
    )
    return fig


def _fmt(x: float) -> str:
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
    (:func:`cnn_demo.windows.written_products`), so the browser can light them up on hover without a rerun.
    ``selected`` is the cell shown while the mouse is elsewhere; ``title`` its heading.
    """
    n_ch, h, w = cw.inputs.shape
    ho, wo = cw.output_shape
    kh, kw = cw.kernel_shape
    outside = cw.outside
    peak = float(np.abs(cw.weights).max()) or 1.0
    inputs, kernels = [], []
    for c in range(n_ch):
        suffix = f", channel {c}" if n_ch > 1 else ""
        x = cw.inputs[c]
        lo, hi = in_range if in_range is not None else (float(x.min()), float(x.max()) or 1.0)
        texts = [_fmt(x[r, q]) + ("*" if outside[r, q] else "") for r in range(h) for q in range(w)]
        inputs.append(_grid(f"Input{suffix}", x, texts, lo, hi, in_scale, w <= 16))
        k = cw.weights[c]
        kernels.append(
            _grid(f"{kernel_title}{suffix}", k, [_fmt(v) for v in k.ravel()], -peak, peak, "RdBu_r", max(kh, kw) <= 9)
        )
    out = cw.output
    output = _grid(
        "Output: hover or click a cell",
        out,
        [_fmt(v) for v in out.ravel()],
        float(out.min()),
        float(out.max()),
        "Viridis",
        True,
    )
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
    ok = selected is not None and 0 <= selected[0] < ho and 0 <= selected[1] < wo
    return {
        "inputs": inputs,
        "kernels": kernels,
        "output": output,
        "traces": traces,
        "inRows": cw.in_rows.tolist(),
        "inCols": cw.in_cols.tolist(),
        "outRows": cw.out_rows.tolist(),
        "outCols": cw.out_cols.tolist(),
        "contiguous": cw.dilation == (1, 1),
        "colours": {"read": READ_COLOUR, "current": CURRENT_COLOUR},
        "selected": [int(selected[0]), int(selected[1])] if ok else None,
        "title": linked_title(cw, *selected) if ok else None,
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
                    text=[[_fmt(x) for x in r] for r in v],
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


def _cell_overlay(side: int, cells: tuple[np.ndarray, np.ndarray] | None, colour: str, opacity: float) -> go.Heatmap:
    """A one-colour heatmap over ``cells`` (rows × cols) of a side×side grid, transparent elsewhere."""
    z = np.full((side, side), np.nan)
    if cells is not None:
        z[np.ix_(*cells)] = 1.0
    return go.Heatmap(
        z=z,
        colorscale=[[0, colour], [1, colour]],
        zmin=0,
        zmax=1,
        showscale=False,
        opacity=opacity,
        hoverinfo="skip",
        xgap=2,
        ygap=2,
    )


def transposed_grid_figure(ts: TransposedSteps, duration_ms: int = 700) -> go.Figure:
    """vdumoulin-style animation of a transposed convolution: each input cell in turn (green, left) scatters
    its value × the kernel (middle) onto the canvas (right, orange: the cells written now), the canvas adds the
    overlaps; the output is the part inside the green outline (``padding`` cut off on every side,
    ``output_padding`` added at the bottom and right; greyed cells are cut). Play button and slider, one frame per
    input cell."""
    n, k, side = ts.x.shape[0], ts.kernel.shape[0], ts.canvas_side
    p, n_out = ts.padding, ts.output_side
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[max(n, 2), max(k, 2), side],
        subplot_titles=("Input", "Kernel", "Canvas: output = inside the green outline"),
        horizontal_spacing=0.05,
    )

    def values(z: np.ndarray, scale: str, zmax: float, hover: str) -> go.Heatmap:
        return go.Heatmap(
            z=z,
            text=[[_fmt(v) for v in r] for r in z],
            texttemplate="%{text}",
            colorscale=scale,
            zmin=0,
            zmax=zmax or 1.0,
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate=hover + "<extra></extra>",
        )

    top = float(ts.canvases[-1].max())
    cut = np.ones((side, side), bool)
    cut[p : p + n_out, p : p + n_out] = False
    cut_cells = np.full((side, side), np.nan)
    cut_cells[cut] = 1.0
    order = [(i, j) for i in range(n) for j in range(n)]

    def frame_traces(t: int) -> list[go.Heatmap]:
        i, j = order[t]
        return [
            _cell_overlay(n, (np.array([i]), np.array([j])), CURRENT_COLOUR, 0.8),
            values(ts.canvases[t], "Blues", top, "canvas row %{y}, col %{x}: %{z:.4g}"),
            _cell_overlay(side, ts.stamps[t], READ_COLOUR, 0.45),
        ]

    def frame_title(t: int) -> str:
        i, j = order[t]
        rows, cols = ts.stamps[t]
        return (
            f"Input ({i}, {j}) = {_fmt(ts.x[i, j])} adds {_fmt(ts.x[i, j])} × kernel to canvas rows "
            f"{rows[0]}–{rows[-1]}, cols {cols[0]}–{cols[-1]}"
            + (f" (every {ts.dilation}th)" if ts.dilation > 1 else "")
        )

    fig.add_trace(values(ts.x, "Purples", float(ts.x.max()) * 1.6, "input row %{y}, col %{x}: %{z}"), row=1, col=1)
    fig.add_trace(values(ts.kernel, "Oranges", float(ts.kernel.max()), "weight %{z}"), row=1, col=2)
    first = frame_traces(0)
    fig.add_trace(first[0], row=1, col=1)
    fig.add_trace(first[1], row=1, col=3)
    fig.add_trace(first[2], row=1, col=3)
    fig.add_trace(
        go.Heatmap(
            z=cut_cells,
            colorscale=[[0, "#bbbbbb"], [1, "#bbbbbb"]],
            showscale=False,
            opacity=0.75,
            hoverinfo="skip",
            xgap=2,
            ygap=2,
        ),
        row=1,
        col=3,
    )
    fig.add_shape(
        type="rect",
        x0=p - 0.5,
        x1=p + n_out - 0.5,
        y0=p - 0.5,
        y1=p + n_out - 0.5,
        line=dict(color=CURRENT_COLOUR, width=3),
        row=1,
        col=3,
    )
    fig.frames = [
        dict(data=frame_traces(t), traces=[2, 3, 4], name=str(t), layout=dict(title_text=frame_title(t)))
        for t in range(len(order))
    ]
    steps = [
        dict(
            method="animate",
            label=f"{i},{j}",
            args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))],
        )
        for t, (i, j) in enumerate(order)
    ]
    fig.update_yaxes(autorange="reversed", showticklabels=False, ticks="", showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain")
    for name in [nm for nm in fig.layout if nm.startswith("yaxis")]:
        fig.layout[name].update(scaleanchor="x" + name[5:], constrain="domain")
    fig.update_layout(
        title=frame_title(0),
        height=int(min(760, max(360, 26 * side + 200))),
        margin=dict(l=0, r=0, t=60, b=0),
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0.0,
                y=0,
                xanchor="left",
                yanchor="top",
                pad=dict(t=40),
                buttons=[
                    dict(
                        label="▶ Play",
                        method="animate",
                        args=[None, dict(frame=dict(duration=duration_ms, redraw=True), fromcurrent=True)],
                    ),
                    dict(
                        label="❚❚ Pause",
                        method="animate",
                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))],
                    ),
                ],
            )
        ],
        sliders=[dict(steps=steps, x=0.22, len=0.78, y=0, pad=dict(t=30), currentvalue=dict(prefix="input cell "))],
    )
    return fig
