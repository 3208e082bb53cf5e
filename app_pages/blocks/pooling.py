"""Pooling: max and average pooling window by window on a small matrix, then on a real image."""

import numpy as np
import streamlit as st

from cnn_demo.blocks import pooling
from cnn_demo.blocks.figures import window_figure
from cnn_demo.io.images import to_array
from cnn_demo.ui.common import user_errors
from cnn_demo.ui.picker import image_picker
from cnn_demo.viz import image_figure, matrix_figure

st.title("Pooling")
st.markdown(
    "A pooling layer slides a window over each feature map and keeps one number per window: the **maximum** "
    "(`nn.MaxPool2d`) or the **average** (`nn.AvgPool2d`). It has no parameters. It **downsamples** the map, "
    "summarises each neighbourhood, and makes the network more robust to **small shifts** of the input."
)

DEFAULT = pooling.format_matrix(pooling.LECTURE_MATRIX)

# Both sections are fragments: a widget of one reruns and redraws that section only, not the other's charts.


@st.fragment
def _window_by_window() -> None:
    """Pooling a small matrix, one output cell's window at a time, checked against PyTorch."""
    st.subheader("Window by window")
    left, right = st.columns([1, 2])
    with left:
        kind = st.radio(
            "Pooling",
            ["max", "avg"],
            horizontal=True,
            key="pooling_kind",
            format_func=lambda k: {"max": "Max (MaxPool2d)", "avg": "Average (AvgPool2d)"}[k],
        )
        c1, c2 = st.columns(2)
        kernel = c1.number_input("kernel_size", 1, 6, 2, key="pooling_kernel")
        stride = c2.number_input("stride", 1, 6, 1, key="pooling_stride")
        padding = c1.number_input("padding", 0, 3, 0, key="pooling_padding")
        dilation = c2.number_input(
            "dilation",
            1,
            3,
            1,
            key="pooling_dilation",
            disabled=kind == "avg",
            help="Only max pooling has dilation in PyTorch.",
        )
        ceil_mode = st.toggle(
            "ceil_mode",
            value=False,
            key="pooling_ceil",
            help="Round the output size up: a last, partial window is kept.",
        )
        text = st.text_area(
            "Input matrix (one row per line)",
            DEFAULT,
            height=130,
            key="pooling_matrix",
            help="The default is the lecture's 4×4 example.",
        )

    result = None
    with user_errors():
        x = pooling.parse_matrix(text)
        d = int(dilation) if kind == "max" else 1
        ours = pooling.pool2d(x, kind, int(kernel), int(stride), int(padding), d, ceil_mode)
        reference = pooling.torch_pool2d(x, kind, int(kernel), int(stride), int(padding), d, ceil_mode)
        result = ours
    if result is None:
        return

    layer = "MaxPool2d" if kind == "max" else "AvgPool2d"
    args = f"kernel_size={int(kernel)}, stride={int(stride)}"
    if padding:
        args += f", padding={int(padding)}"
    if kind == "max" and dilation > 1:
        args += f", dilation={int(dilation)}"
    if ceil_mode:
        args += ", ceil_mode=True"
    oh, ow = result.output.shape
    with right:
        cells = [(w.out_row, w.out_col) for w in result.windows]
        pick = st.select_slider(
            "Output cell",
            options=list(range(len(cells))),
            key="pooling_cell",
            format_func=lambda i: f"({cells[i][0]}, {cells[i][1]})",
        )
        w = result.windows[pick]
        a, b = st.columns(2)
        a.plotly_chart(
            window_figure(x, w.rows, w.cols, f"Input {x.shape[0]}×{x.shape[1]}", padding=(int(padding),) * 2),
            width="content",
            key="pooling_input_fig",
        )
        out_fig = window_figure(result.output, [w.out_row], [w.out_col], f"Output {oh}×{ow}")
        b.plotly_chart(out_fig, width="content", key="pooling_output_fig")
        vals = x[np.ix_(w.rows, w.cols)].ravel() if w.rows and w.cols else np.array([])
        listed = ", ".join(f"{v:.4g}" for v in vals)
        outside = int(kernel) ** 2 - len(vals)  # window cells in the padding (or past it, with ceil_mode)
        if kind == "max":
            st.markdown(
                f"Output ({w.out_row}, {w.out_col}) = max({listed}) = **{w.value:.4f}**"
                + (
                    f" ({outside} cell(s) of this window lie in the padding, which max pooling fills with −∞, so "
                    "they never win)"
                    if outside
                    else ""
                )
            )
        else:
            zeros = w.divisor - len(vals)  # padded zeros PyTorch adds up and counts (count_include_pad=True)
            padded = ", ".join([listed, *(["0"] * zeros)]) if listed else ", ".join(["0"] * zeros)
            st.markdown(
                f"Output ({w.out_row}, {w.out_col}) = ({padded}) summed / {w.divisor} = **{w.value:.4f}**"
                + (f" (the last {zeros} zero(s) are padding cells: they count in the sum and the divisor, as in "
                   "PyTorch)" if zeros else "")
                + (f"; {outside - zeros} cell(s) past the padding are left out (ceil_mode)" if outside > zeros else "")
            )  # fmt: skip

    st.code(f"m = nn.{layer}({args})\noutput = m(input)   # {x.shape[0]}×{x.shape[1]} → {oh}×{ow}", language="python")
    if np.allclose(result.output, reference, atol=1e-9):
        st.success(f"PyTorch's `nn.{layer}` gives the same {oh}×{ow} output.", icon=":material/check:")
    else:
        st.error("This walkthrough and PyTorch disagree: please report it.")
    if (
        text.strip() == DEFAULT.strip()
        and kind == "max"
        and (kernel, stride, padding, d, ceil_mode) == (2, 1, 0, 1, False)
    ):
        st.caption(
            "This is the lecture's example: the output matches the slide "
            f"({', '.join(f'{v:.4f}' for v in result.output[0])} in the first row)."
        )


@st.fragment
def _picture() -> None:
    """Pooling a picture, and how little the pooled map moves when the picture shifts."""
    st.subheader("Pooling a picture")
    c1, c2 = st.columns([1, 2])
    with c1:
        img = image_picker("pooling", grayscale=True, max_side=256)
        img_kind = st.radio("Pooling", ["max", "avg"], horizontal=True, key="pooling_img_kind")
        k = st.select_slider("Window (= stride)", [2, 3, 4, 8], value=2, key="pooling_img_kernel")
        shift = st.slider("Shift the image by (pixels)", 1, 4, 1, key="pooling_shift")
    if img is None:
        return
    with user_errors():
        arr = to_array(img)
        pooled = pooling.pool2d_fast(arr, img_kind, k)
        robust = pooling.shift_robustness(arr, img_kind, k, shift)
        with c2:
            a, b = st.columns(2)
            a.plotly_chart(
                image_figure(arr, f"Input {arr.shape[1]}×{arr.shape[0]}"), width="stretch", key="pooling_img"
            )
            b.plotly_chart(
                image_figure(pooled, f"{img_kind} pooled {pooled.shape[1]}×{pooled.shape[0]}"),
                width="stretch",
                key="pooling_img_pooled",
            )
            st.caption(
                f"{k}×{k} windows with stride {k} keep 1 value in {k * k}: {arr.size:,} pixels → "
                f"{pooled.size:,} values."
            )
        m1, m2, m3 = st.columns(3)
        m1.metric("Mean change of the pixels", f"{robust['raw_change']:.1f}")
        m2.metric(f"Mean change after {img_kind} pooling", f"{robust['pooled_change']:.1f}")
        m3.metric("Ratio", f"{robust['ratio']:.2f}")
        st.caption(
            f"Shifting the picture {shift} pixel(s) sideways changes each pixel by {robust['raw_change']:.1f} on "
            f"average (0–255 scale); the pooled map changes by {robust['pooled_change']:.1f}. "
            "A window's maximum or average barely moves when its content slides a little: that is the "
            "small-shift robustness pooling brings."
        )
        st.plotly_chart(
            matrix_figure(pooled[:8, :8], f"Top-left 8×8 pooled values ({img_kind})"),
            width="content",
            key="pooling_img_values",
        )


_window_by_window()
_picture()
