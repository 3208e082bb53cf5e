"""Adaptive pooling: the lecture's stride/kernel rule next to the windows PyTorch really uses."""

import numpy as np
import pandas as pd
import streamlit as st

from cnn_demo.blocks import pooling
from cnn_demo.blocks.figures import coverage_figure, windows_1d_figure
from cnn_demo.ui.common import user_errors

st.title("Adaptive pooling")
st.markdown(
    "`nn.AdaptiveAvgPool1d(output_size)` / `nn.AdaptiveMaxPool1d(output_size)` take the **output** size and choose "
    "the windows themselves, so a network accepts any input size (MyConvNet and AlexNet end with one). "
    "The lecture explains it with a rule; PyTorch uses windows "
    "$[\\lfloor i\\,L_{in}/L_{out}\\rfloor,\\ \\lceil (i+1)\\,L_{in}/L_{out}\\rceil)$, which can differ in size "
    "and overlap. This page shows both and says where they differ."
)

EXAMPLES = {
    "avg8": ("1, 2, 3", 8, "avg", "Lecture: AdaptiveAvgPool1d(8) on [1, 2, 3]"),
    "max10": ("1, 2, 3", 10, "max", "Lecture: AdaptiveMaxPool1d(10) on [1, 2, 3]"),
    "ten_to_four": ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10", 4, "avg", "L_in = 10, L_out = 4: rule ≠ PyTorch"),
}


def _load_example(key: str) -> None:
    values, out, kind, _ = EXAMPLES[key]
    st.session_state["adaptive_pooling_values"] = values
    st.session_state["adaptive_pooling_out"] = out
    st.session_state["adaptive_pooling_kind"] = kind


st.session_state.setdefault("adaptive_pooling_values", "1, 2, 3")
st.session_state.setdefault("adaptive_pooling_out", 8)
st.session_state.setdefault("adaptive_pooling_kind", "avg")

cols = st.columns(len(EXAMPLES))
for col, (key, (_, _, _, label)) in zip(cols, EXAMPLES.items(), strict=True):
    col.button(label, key=f"adaptive_pooling_ex_{key}", on_click=_load_example, args=(key,), width="stretch")

st.subheader("1-D")
c1, c2, c3 = st.columns([3, 1, 1])
text = c1.text_input("Input values", key="adaptive_pooling_values", help="Numbers separated by commas (at most 64).")
out_size = c2.number_input("output_size", 1, 64, key="adaptive_pooling_out")
kind = c3.radio("Pooling", ["avg", "max"], key="adaptive_pooling_kind", horizontal=True)

with user_errors():
    x = pooling.parse_values(text)
    n, m = len(x), int(out_size)
    torch_out = pooling.torch_adaptive_pool1d(x, m, kind)
    ours = pooling.adaptive_pool1d(x, m, kind)
    rule = pooling.lecture_rule(n, m)
    rule_out = pooling.lecture_pool1d(x, m, kind)
    comparison = pooling.compare_rule(n, m)
    same_key = "same_max" if kind == "max" else "same_avg"
    differ = [r["output"] for r in comparison if not r[same_key]]

    layer = "AdaptiveMaxPool1d" if kind == "max" else "AdaptiveAvgPool1d"
    fmt = ", ".join
    st.code(
        f"m = nn.{layer}(output_size={m})\nx = torch.tensor([[{fmt(f'{v:g}' for v in x)}]])\nm(x)\n"
        f"tensor([[{fmt(f'{v:.4f}' for v in torch_out)}]])",
        language="python",
    )
    if np.allclose(ours, torch_out):
        st.caption(f"The windows below reproduce PyTorch's `{layer}` exactly (L_in = {n}, L_out = {m}).")

    st.markdown(
        f"**The lecture's rule** for L_in = {n}, L_out = {m}: "
        + (
            f"L_out > L_in, so first upsample by ⌈{m}/{n}⌉ = **{rule['upsample']}** (each value repeated) to "
            f"length {rule['length']}; then "
            if rule["upsample"] > 1
            else ""
        )
        + f"stride = ⌊({rule['length']} − {m})/{m} + 1⌋ = **{rule['stride']}**, "
        f"kernel = {rule['length']} − ({m} − 1)·{rule['stride']} = **{rule['kernel']}**."
    )
    value_differ = pooling.differing_values(rule_out, torch_out)
    if differ:
        values_note = (
            f"On this input the **values** differ at position(s) {', '.join(map(str, value_differ))}"
            + (" only" if len(value_differ) < len(differ) else "")
            + "; elsewhere the two windows happen to give the same value."
            if value_differ
            else "On this input the **values** happen to agree everywhere; other inputs would show the difference."
        )
        st.warning(
            f"Here the lecture's rule and PyTorch pool **different windows** at output position(s) "
            f"{', '.join(map(str, differ))}: PyTorch does not use one fixed stride and kernel, its windows follow "
            f"the formula above. {values_note}",
            icon=":material/compare_arrows:",
        )
    else:
        st.success(f"Here the lecture's rule gives the same {kind} pooling as PyTorch.", icon=":material/check:")

    a, b = st.columns(2)
    a.plotly_chart(
        windows_1d_figure(n, [r["torch_window"] for r in comparison], "PyTorch's windows", differ),
        width="stretch",
        key="adaptive_pooling_torch_fig",
    )
    b.plotly_chart(
        windows_1d_figure(
            rule["length"],
            rule["windows"],
            "Lecture rule's windows"
            + (f" (on the ×{rule['upsample']} upsampled input)" if rule["upsample"] > 1 else ""),
            differ,
            unit="upsampled index" if rule["upsample"] > 1 else "input index",
        ),
        width="stretch",
        key="adaptive_pooling_rule_fig",
    )
    table = pd.DataFrame(
        {
            "output": [r["output"] for r in comparison],
            "PyTorch window": [f"x[{s}:{e}]" for s, e in (r["torch_window"] for r in comparison)],
            "PyTorch value": torch_out,
            "rule window": [
                ("up" if rule["upsample"] > 1 else "x") + f"[{s}:{e}]"
                for s, e in (r["rule_window"] for r in comparison)
            ],
            "rule value": rule_out,
            "same window": ["✓" if r[same_key] else "✗ differs" for r in comparison],
            "same value": ["✗ differs" if i in value_differ else "✓" for i in range(len(comparison))],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch", key="adaptive_pooling_table")

st.subheader("2-D")
st.markdown(
    "`nn.AdaptiveAvgPool2d((H_out, W_out))` applies the same windows along rows and along columns; "
    "the cells show how many output windows read each input cell (overlaps count twice)."
)
c = st.columns(4)
h_in = c[0].number_input("H_in", 1, 32, 7, key="adaptive_pooling_h_in")
w_in = c[1].number_input("W_in", 1, 32, 10, key="adaptive_pooling_w_in")
h_out = c[2].number_input("H_out", 1, 32, 3, key="adaptive_pooling_h_out")
w_out = c[3].number_input("W_out", 1, 32, 4, key="adaptive_pooling_w_out")
with user_errors():
    rows = pooling.adaptive_windows(int(h_in), int(h_out))
    cols_w = pooling.adaptive_windows(int(w_in), int(w_out))
    counts = np.zeros((int(h_in), int(w_in)))
    for r0, r1 in rows:
        for c0, c1 in cols_w:
            counts[r0:r1, c0:c1] += 1
    st.plotly_chart(
        coverage_figure(counts, f"{int(h_in)}×{int(w_in)} input → {int(h_out)}×{int(w_out)} output"),
        width="content",
        key="adaptive_pooling_cover",
    )
    st.markdown(
        f"Row windows: {', '.join(f'[{a}:{b})' for a, b in rows)}  \n"
        f"Column windows: {', '.join(f'[{a}:{b})' for a, b in cols_w)}"
    )
    flags = [
        f"{axis} ({i} → {o})"
        for axis, i, o in (("rows", int(h_in), int(h_out)), ("columns", int(w_in), int(w_out)))
        if not pooling.rule_agrees(i, o, "avg")
    ]
    if flags:
        st.warning(
            f"The lecture's rule differs from PyTorch along: {', '.join(flags)}.", icon=":material/compare_arrows:"
        )
    else:
        st.success("The lecture's rule matches PyTorch along both axes.", icon=":material/check:")
