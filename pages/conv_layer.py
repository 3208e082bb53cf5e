"""The convolution layer: what nn.Conv2d builds for given settings, and how many parameters it learns."""

import streamlit as st

from cnn_demo.layers import conv2d_report
from cnn_demo.ui.common import user_errors

st.title("Convolution layer")
st.markdown(
    "In PyTorch a convolution layer is `torch.nn.Conv2d`. It learns `out_channels` filters, each spanning all "
    "`in_channels` (or `in_channels / groups`) input channels, plus one bias per filter. Change the settings and "
    "see the weight and bias shapes, the parameter count and the output size."
)

left, right = st.columns([1, 2])
with left:
    c1, c2 = st.columns(2)
    in_ch = c1.number_input("in_channels", 1, 2048, 3, key="conv_layer_in")
    out_ch = c2.number_input("out_channels", 1, 2048, 5, key="conv_layer_out")
    kernel = c1.number_input("kernel_size", 1, 15, 3, key="conv_layer_kernel")
    stride = c2.number_input("stride", 1, 8, 1, key="conv_layer_stride")
    padding = c1.number_input("padding", 0, 10, 1, key="conv_layer_padding")
    dilation = c2.number_input("dilation", 1, 6, 1, key="conv_layer_dilation")
    groups = c1.number_input(
        "groups",
        1,
        2048,
        1,
        key="conv_layer_groups",
        help="Split the channels into groups; groups = in_channels is a depthwise convolution.",
    )
    bias = c2.toggle("bias", value=True, key="conv_layer_bias")
    h = c1.number_input("input height", 1, 1024, 32, key="conv_layer_h")
    w = c2.number_input("input width", 1, 1024, 32, key="conv_layer_w")

with right, user_errors():
    r = conv2d_report(
        int(in_ch),
        int(out_ch),
        int(kernel),
        int(stride),
        int(padding),
        int(dilation),
        int(groups),
        bool(bias),
        (int(h), int(w)),
    )
    st.code(
        f"m = {r.code}\n"
        f'print("Size of the weight parameter", m.weight.shape)\n'
        + ('print("Size of the bias parameter", m.bias.shape)\n' if r.bias_shape else "")
        + f"Size of the weight parameter torch.Size({list(r.weight_shape)})\n"
        + (f"Size of the bias parameter torch.Size({list(r.bias_shape)})" if r.bias_shape else ""),
        language="python",
    )
    k = int(kernel)
    g = int(groups)
    per = f"\\frac{{{int(in_ch)}}}{{{g}}}" if g > 1 else f"{int(in_ch)}"
    bias_term = f" + {int(out_ch)}" if bias else ""
    st.markdown("**Parameters** (lecture: in_channels × out_channels × kernel_size² + out_channels):")
    st.latex(f"{per} \\times {int(out_ch)} \\times {k}^2{bias_term} = {r.formula_params:,}".replace(",", "{,}"))
    m1, m2, m3 = st.columns(3)
    m1.metric("Formula", f"{r.formula_params:,}")
    m2.metric("PyTorch sum(p.numel())", f"{r.torch_params:,}")
    m3.metric("Multiply-accumulates", f"{r.macs:,}")
    if r.formula_params == r.torch_params:
        st.success("The formula and PyTorch agree.", icon=":material/check:")
    else:
        st.error("The formula and PyTorch disagree: please report it.")
    st.markdown(
        f"Input `{tuple(r.input_shape)}` → output `{tuple(r.output_shape)}`: each output side is "
        f"⌊(L + 2·{int(padding)} − {int(dilation)}·({k} − 1) − 1)/{int(stride)} + 1⌋."
    )
