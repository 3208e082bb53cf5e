"""Convolution arithmetic: how kernel, stride, padding and dilation set the output size, proven on PyTorch."""

import pandas as pd
import streamlit as st

from cnn_demo.images import arithmetic as ar
from cnn_demo.images.figures import conv_grid_figure, receptive_field_figure
from cnn_demo.ui.common import user_errors
from cnn_demo.ui.figcache import cached_figure

GRID_MAX = 24


@st.cache_data(max_entries=16, show_spinner=False)
def _transposed_steps(n: int, k: int, s: int, p: int, op: int, d: int) -> ar.TransposedSteps:
    return ar.transposed_steps(n, k, s, p, op, d)


st.title("Convolution arithmetic")
st.markdown("How big is the output of a convolution or pooling layer? The lecture's formula, per axis, is")
st.latex(
    r"L_{\text{out}} = \left\lfloor \frac{L_{\text{in}} + 2\times\text{padding} - \text{dilation}\times"
    r"(\text{kernel size} - 1) - 1}{\text{stride}} + 1 \right\rfloor"
)
st.markdown(
    "With no padding and no dilation it is the slide's $H_{out} = \\lfloor (H_{in} - k_h)/s_h + 1 \\rfloor$: "
    "a 7×7 image and a 3×3 kernel with stride 1 give 5×5 (the defaults below)."
)

layer_name = st.radio("Layer", ["nn.Conv2d", "nn.MaxPool2d"], horizontal=True, key="images_arithmetic_layer")
layer = "pool" if layer_name == "nn.MaxPool2d" else "conv"
same = st.toggle("Same settings for height and width", value=True, key="images_arithmetic_same")


def _setting(label: str, name: str, lo: int, hi: int, default: int) -> tuple[int, int]:
    """One setting as a (height, width) pair: one number input, or two when the axes differ."""
    if same:
        v = st.number_input(label, lo, hi, default, key=f"images_arithmetic_{name}")
        return int(v), int(v)
    a, b = st.columns(2)
    start = int(st.session_state.get(f"images_arithmetic_{name}", default))  # carry the shared value over
    vh = a.number_input(f"{label} (height)", lo, hi, start, key=f"images_arithmetic_{name}_h")
    vw = b.number_input(f"{label} (width)", lo, hi, start, key=f"images_arithmetic_{name}_w")
    return int(vh), int(vw)


c1, c2, c3 = st.columns(3)
with c1:
    size = _setting("Input size", "size", 1, 4096, 7)
    kernel = _setting("Kernel size", "kernel", 1, 64, 3)
with c2:
    stride = _setting("Stride", "stride", 1, 16, 1)
    padding = _setting("Padding", "padding", 0, 32, 0)
with c3:
    dilation = _setting("Dilation", "dilation", 1, 8, 1)
    ceil_mode = False
    if layer == "pool":
        ceil_mode = st.checkbox(
            "ceil_mode (round up)", key="images_arithmetic_ceil", help="Round the division up instead of down."
        )

ok = False
with user_errors():
    out = ar.conv_output_size(size, kernel, stride, padding, dilation, ceil_mode, layer=layer)
    ok = True
if ok:
    rounding = (r"\left\lceil", r"\right\rceil") if ceil_mode else (r"\left\lfloor", r"\right\rfloor")
    st.subheader(f"Output: {out[0]} × {out[1]}")
    for axis, name in enumerate(("H", "W")):
        n, k, s, p, d = size[axis], kernel[axis], stride[axis], padding[axis], dilation[axis]
        formula = rf"{name}_{{out}} = {rounding[0]} \frac{{{n} + 2\times{p} - {d}\times({k} - 1) - 1}}{{{s}}} + 1"
        if not ceil_mode:
            st.latex(rf"{formula}{rounding[1]} = {out[axis]}")
            continue
        rounded_up, last_start, dropped = ar.ceil_mode_steps(n, k, s, p, d)
        exact = (n + 2 * p - d * (k - 1) - 1) / s + 1
        st.latex(
            rf"{formula}{rounding[1]} = \lceil {exact:g} \rceil = {rounded_up}"
            + (rf" \;\to\; {rounded_up} - 1 = {out[axis]}" if dropped else "")
        )
        if dropped:
            st.caption(
                f"{name}: window {rounded_up} would start at position ({rounded_up} − 1)·{s} = {last_start} of the "
                f"padded input, where the right-hand padding begins ({p} + {n} = {p + n}): it would read padding "
                f"only, so PyTorch drops it and the output is {out[axis]}, not {rounded_up}."
            )
    if ceil_mode:
        st.caption(
            "ceil_mode rounds up, so a last window may hang over the end of the input; PyTorch's rule: a last "
            "window that would start in the right-hand padding is dropped."
        )

    st.markdown("**Proof on PyTorch**: the layer built with these settings and run on a tensor of zeros.")
    with user_errors():
        line = ar.layer_code(kernel, stride, padding, dilation, ceil_mode, layer=layer)
        run = ar.run_layer(size, kernel, stride, padding, dilation, ceil_mode, layer=layer)
        device = ', device="meta"' if run.device == "meta" else ""
        st.code(
            f"m = {line}\nx = torch.zeros{run.input_shape}{device}\nm(x).shape  # torch.Size({list(run.output_shape)})",
            language="python",
        )
        if run.device == "meta":
            st.caption(
                "This input is large, so the layer ran on PyTorch's `meta` device: the same shape checks, "
                "without computing the numbers."
            )
        if run.output_shape[-2:] != tuple(out):
            st.error("PyTorch disagrees with the formula here; please report this settings combination.")

    st.subheader("Which input cells does each output cell read?")
    if max(size) + 2 * max(padding) > GRID_MAX:
        st.info(f"The animated grid is drawn for inputs up to {GRID_MAX} cells a side (padding included).")
    elif ceil_mode:
        st.info("The grid is drawn without ceil_mode; switch it off to see it.")
    else:
        st.plotly_chart(
            conv_grid_figure(size, kernel, stride, padding, dilation), width="stretch", key="images_arithmetic_grid"
        )
        st.caption(
            "Press ▶ or drag the slider. Blue: input, grey: padding (zeros for a convolution), orange: the cells "
            "the kernel reads for the green output cell. Dilation spreads the kernel's taps apart; stride moves it "
            "by several cells at a time."
        )

st.header("Transposed convolution")
st.markdown(
    "`nn.ConvTranspose2d` goes the other way: it *enlarges* a feature map (decoders in segmentation, generators). "
    "Its output size is $L_{out} = (L_{in} - 1)\\times\\text{stride} - 2\\times\\text{padding} + "
    "\\text{dilation}\\times(\\text{kernel} - 1) + \\text{output\\_padding} + 1$."
)
t1, t2, t3 = st.columns(3)
t_in = t1.number_input("Input size", 1, 1024, 5, key="images_arithmetic_t_size")
t_k = t1.number_input("Kernel size", 1, 15, 3, key="images_arithmetic_t_kernel")
t_s = t2.number_input("Stride", 1, 8, 2, key="images_arithmetic_t_stride")
t_p = t2.number_input("Padding", 0, 16, 1, key="images_arithmetic_t_padding")
t_op = t3.number_input("Output padding", 0, 7, 1, key="images_arithmetic_t_outpad")
t_d = t3.number_input("Dilation", 1, 8, 1, key="images_arithmetic_t_dilation")
t_ok = False
with user_errors():
    t_out = ar.transposed_output_size(int(t_in), int(t_k), int(t_s), int(t_p), int(t_op), int(t_d))
    line, t_shape = ar.run_transposed((int(t_in), int(t_in)), int(t_k), int(t_s), int(t_p), int(t_op), int(t_d))
    st.markdown(f"**Output: {t_out} × {t_out}** = ({t_in} − 1)·{t_s} − 2·{t_p} + {t_d}·({t_k} − 1) + {t_op} + 1")
    st.code(f"m = {line}\nm(torch.zeros(1, 1, {t_in}, {t_in})).shape  # torch.Size({list(t_shape)})", "python")
    back = ar.conv_output_size(t_out, int(t_k), int(t_s), int(t_p), int(t_d))
    st.caption(
        f"A Conv2d with the same kernel, stride, padding and dilation maps {t_out} back to {back}"
        + (" — the transposed convolution undoes the size change." if back == t_in else ".")
    )
    t_ok = True

if t_ok:
    st.subheader("Transposed convolution, step by step")
    t_args = (int(t_in), int(t_k), int(t_s), int(t_p), int(t_op), int(t_d))
    too_big = ar.transposed_too_big(*t_args)
    if too_big:
        st.info(too_big + " Lower the input size, stride, kernel or dilation to see the animation.")
    else:
        ts = _transposed_steps(*t_args)
        st.markdown(
            f"Each input cell (green) is multiplied by the kernel and **added** onto the canvas at "
            f"stride {t_s} (orange: the cells it writes), so neighbouring stamps overlap and add up. "
            f"Then padding {t_p} cuts {t_p} cell(s) off every side (grey), and output_padding {t_op} adds "
            f"{t_op} row(s) and column(s) at the bottom and right: the output is the {ts.output_side}×"
            f"{ts.output_side} inside the green outline. Press ▶ or drag the slider."
        )
        st.plotly_chart(cached_figure("transposed_grid", ts), width="stretch", key="images_arithmetic_t_grid")
        if ts.torch_max_error == 0:
            st.success(
                f"`nn.ConvTranspose2d(1, 1, {t_k}, stride={t_s}, padding={t_p}, output_padding={t_op}, "
                f"dilation={t_d}, bias=False)` with this kernel gives exactly this {ts.output_side}×"
                f"{ts.output_side} output.",
                icon=":material/check:",
            )
        else:
            st.error(f"PyTorch differs by {ts.torch_max_error:.3g} here: please report these settings.")

st.header("Receptive field")
st.markdown(
    "The **receptive field** of a unit is the patch of the input image it can see. Each layer adds "
    "(effective kernel − 1) × *jump* pixels, where the jump is the product of the strides before it, so "
    "pooling and strides make deeper layers see much more. Edit the table (add or delete rows): the default "
    "is the feature extractor of AlexNet from the lecture."
)
ALEXNET = pd.DataFrame(
    [
        ("conv1", "conv", 11, 4, 2, 1),
        ("pool1", "pool", 3, 2, 0, 1),
        ("conv2", "conv", 5, 1, 2, 1),
        ("pool2", "pool", 3, 2, 0, 1),
        ("conv3", "conv", 3, 1, 1, 1),
        ("conv4", "conv", 3, 1, 1, 1),
        ("conv5", "conv", 3, 1, 1, 1),
        ("pool5", "pool", 3, 2, 0, 1),
    ],
    columns=["name", "kind", "kernel", "stride", "padding", "dilation"],
)
rf_size = st.number_input("Input size (square)", 1, 4096, 224, key="images_arithmetic_rf_size")
table = st.data_editor(
    ALEXNET,
    num_rows="dynamic",
    key="images_arithmetic_layers",
    column_config={
        "kind": st.column_config.SelectboxColumn("kind", options=["conv", "pool"], required=True),
        "kernel": st.column_config.NumberColumn("kernel", min_value=1, max_value=64, step=1, required=True),
        "stride": st.column_config.NumberColumn("stride", min_value=1, max_value=16, step=1, default=1),
        "padding": st.column_config.NumberColumn("padding", min_value=0, max_value=32, step=1, default=0),
        "dilation": st.column_config.NumberColumn("dilation", min_value=1, max_value=8, step=1, default=1),
    },
    width="stretch",
)
with user_errors():
    layers = table.to_dict("records")
    fields = ar.receptive_field(layers)
    sizes = ar.stack_sizes(int(rf_size), layers)
    summary = pd.DataFrame(
        {
            "layer": [f.name for f in fields],
            "output size": [f"{s}×{s}" for s in sizes],
            "receptive field": [f"{f.size}×{f.size}" for f in fields],
            "jump": [f.jump for f in fields],
            "centre of first unit (input px)": [f.start for f in fields],
        }
    )
    st.dataframe(summary, hide_index=True, width="stretch")
    st.plotly_chart(receptive_field_figure(fields), width="stretch", key="images_arithmetic_rf")
    last = fields[-1]
    st.markdown(
        f"After the last layer each unit sees **{last.size}×{last.size}** input pixels and neighbouring units are "
        f"{last.jump} pixels apart in the input."
    )
