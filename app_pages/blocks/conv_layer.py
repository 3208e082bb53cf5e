"""The convolution layer: what nn.Conv2d builds for given settings, and how many parameters it learns."""

import streamlit as st

from cnn_demo.blocks.layers import EXAMPLE_MAX_PADDED, conv2d_report, conv_example, conv_motivation
from cnn_demo.ui.common import short_count, user_errors
from cnn_demo.ui.figcache import cached_figure
from cnn_demo.ui.linked import linked_chart

METRIC_CHARS = 14  # the longest value a metric in a third of the page shows whole at 1400 pixels

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
    h = c2.number_input("input height", 1, 1024, 32, key="conv_layer_h")
    bias = c1.toggle("bias", value=True, key="conv_layer_bias")
    w = c2.number_input("input width", 1, 1024, 32, key="conv_layer_w")

r = None  # stays None when the settings are refused: the error is shown once, here
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
    m1.metric("Formula", short_count(r.formula_params), help=f"{r.formula_params:,}")
    m2.metric("PyTorch sum(p.numel())", short_count(r.torch_params), help=f"{r.torch_params:,}")
    m3.metric("Multiply-accumulates", short_count(r.macs), help=f"{r.macs:,}")
    if r.formula_params == r.torch_params:
        st.success("The formula and PyTorch agree.", icon=":material/check:")
    else:
        st.error("The formula and PyTorch disagree: please report it.")
    st.markdown(
        f"Input `{tuple(r.input_shape)}` → output `{tuple(r.output_shape)}`: each output side is "
        f"⌊(L + 2·{int(padding)} − {int(dilation)}·({k} − 1) − 1)/{int(stride)} + 1⌋."
    )

st.subheader("One output, traced back")
st.markdown(
    "Filter 0 of this layer on a small input of whole numbers, so every value can be read. Each output cell is "
    "the sum of its **window** (every input channel the filter reads) times the **kernel**, plus the bias. "
    "Hover an output cell to light up its window and kernel and read its products; click it to keep it selected "
    "and see its products below."
)


def _pick_cell(i: int, j: int) -> None:
    st.session_state["conv_layer_cell"] = (i, j)


@st.fragment
def _traced(ex, in_ch: int, groups: int, padding: int, stride: int, dilation: int) -> None:
    """The linked view and its products; a click on a cell reruns only this fragment, not the whole page."""
    cw = ex.windows
    ho, wo = cw.output_shape
    ci, cj = st.session_state.get("conv_layer_cell", (0, 0))
    ci, cj = min(ci, ho - 1), min(cj, wo - 1)
    linked_chart(
        cw,
        (ci, cj),
        key="conv_layer_linked",
        on_cell=_pick_cell,
        in_range=(0.0, 9.0),
        in_scale="Blues",
        kernel_title="Filter 0",
    )
    st.plotly_chart(
        cached_figure("products", cw, ci, cj, in_range=(0.0, 9.0), in_scale="Blues"),
        width="stretch",
        key="conv_layer_products",
    )
    n_in = cw.inputs.shape[0]
    grey = " Zeros marked * are the padding." if padding else ""
    st.caption(
        f"{n_in} input channel(s) of {cw.image_shape[0]}×{cw.image_shape[1]}"
        + (f" (filter 0 reads {in_ch // groups}; the first {n_in} are drawn)" if n_in < in_ch // groups else "")
        + f", stride {stride}, dilation {dilation}.{grey}"
    )
    gap = float(abs(cw.output - ex.torch_output).max())
    if gap == 0:
        st.success("`F.conv2d` on the same numbers gives exactly this output.", icon=":material/check:")
    else:
        st.error(f"`F.conv2d` differs by {gap:.3g} on these numbers: please report it.")
    with st.expander("The same numbers in PyTorch"):
        st.code(ex.code, language="python", wrap_lines=True)


with user_errors():
    ex = conv_example(
        int(in_ch), int(kernel), int(stride), int(padding), int(dilation), int(groups), bool(bias), (int(h), int(w))
    )
    if ex is None:
        st.info(
            f"The traced example draws inputs up to {EXAMPLE_MAX_PADDED} cells a side, padding included: "
            "lower the kernel size, dilation or padding to see it."
        )
    else:
        _traced(ex, int(in_ch), int(groups), int(padding), int(stride), int(dilation))

st.subheader("Why convolution?")
st.markdown(
    "The lecture's motivation, in numbers for this layer: **parameter sharing** (one small filter is reused at every "
    "position), **sparse connections** (each output reads a small patch), **translation equivariance** (shift the "
    "input, the output shifts with it) and **efficient computation** (convolution is one matrix product)."
)
if r is None:
    st.info("Fix the settings above to see these numbers.")
else:
    with user_errors():
        mot = conv_motivation(
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
        m1, m2, m3 = st.columns(3)
        m1.metric("Parameters: this conv layer", short_count(mot.conv_params), help=f"{mot.conv_params:,}")
        m2.metric(
            "Parameters: a dense layer",
            short_count(mot.dense_params),
            help=f"{mot.dense_params:,}: a dense layer with the same input and output sizes, where every output "
            "reads every input with its own weight.",
        )
        read = f"{short_count(mot.inputs_per_output)} of {short_count(mot.dense_inputs_per_output)}"
        m3.metric(
            "Inputs read by one output",
            read if len(read) <= METRIC_CHARS else short_count(mot.inputs_per_output),
            help=f"{mot.inputs_per_output:,} of the {mot.dense_inputs_per_output:,} inputs, which a dense layer's "
            "output all reads.",
        )
        st.caption(
            f"One output reads {mot.inputs_per_output:,} of the {mot.dense_inputs_per_output:,} inputs: "
            f"{mot.inputs_per_output / mot.dense_inputs_per_output:.2%} of them, with "
            f"{mot.dense_params / max(mot.conv_params, 1):,.0f}× fewer parameters than the dense layer."
        )
        rows, cols = mot.unfold_shape
        st.markdown(
            f"**As a matrix product** (im2col): unfold the input into a {rows:,} × {cols:,} matrix, one column per "
            f"output position, and multiply by the {mot.weight_matrix_shape[0]} × {mot.weight_matrix_shape[1]:,} "
            "weight matrix" + (" (one product per group)" if int(groups) > 1 else "") + "."
        )
        if mot.matmul_max_error is None:
            st.caption("This layer has over 2 million parameters, so the numerical checks are skipped.")
        else:
            shape = "×".join(map(str, mot.checked_on))
            st.success(
                f"Checked on a random {shape} input: the matrix product equals `F.conv2d` (largest difference "
                f"{mot.matmul_max_error:.1e}), and shifting the input {mot.shift} pixel(s) right shifts the output one "
                f"position right (largest difference away from the borders {mot.shift_max_error:.1e}).",
                icon=":material/check:",
            )
