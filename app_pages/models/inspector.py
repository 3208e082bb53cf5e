"""Model inspector: layer table, parameters and compute per layer, backbone/head split and the printed module."""

import pandas as pd
import streamlit as st

from cnn_demo.models import get_info
from cnn_demo.models.figures import layer_bars_figure
from cnn_demo.ui.common import KEEP, user_errors
from cnn_demo.ui.models import cached_model_report, model_picker

st.title("Model inspector")
st.markdown(
    "A CNN has two parts: **feature extraction** (convolutions, activations, pooling) and a **classifier** "
    "(fully connected layers). Pick a model and an input size to see every layer's output shape, its parameters "
    "and its multiply-accumulates (MACs), as a forward pass computes them."
)

left, right = st.columns([2, 1])
with left:
    name = model_picker("model_inspector_model", default="myconvnet")
info = get_info(name)
with right:
    c1, c2 = st.columns(2)
    h = c1.number_input("Input height", 8, 1024, info.input_size[1], key=f"model_inspector_h_{name}")
    w = c2.number_input("Input width", 8, 1024, info.input_size[2], key=f"model_inspector_w_{name}")
st.caption(info.description)

report = None
with user_errors():
    report = cached_model_report(name, (3, int(h), int(w)))
if report is None:
    st.stop()
s = report.summary

m = st.columns(4)
m[0].metric("Parameters", f"{s.total_params:,}")
m[1].metric("Multiply-accumulates", f"{s.total_macs / 1e6:,.1f} M")
m[2].metric("Output shape", "×".join(map(str, s.output_shape)))
m[3].metric("Layers (calls)", f"{len(s.rows)}")
if name == "alexnet":
    st.caption("61,100,840 parameters: the AlexNet of the lecture.")

st.subheader("Backbone and head")
st.markdown(
    "**Backbone** (feature extraction): "
    + ", ".join(f"`{n}`" for n in report.feature_blocks)
    + f", {report.feature_params:,} parameters. **Head** (classification): `{report.classifier}`, "
    f"{report.classifier_params:,} parameters, which turns the {report.classifier_in_features:,}-number feature "
    f"vector into {info.num_classes} class scores."
)
replaced = (
    f"the head, `{report.head}`"
    if report.head == report.classifier
    else f"only the head's last layer, `{report.head}` ({report.head_params:,} parameters)"
)
st.markdown(
    f"**Fine-tuning** replaces {replaced}: a new {report.num_features:,} → *your classes* layer. It keeps the "
    f"other {report.backbone_params:,} parameters and may train the last of these stages: "
    + ", ".join(f"`{n}`" for n in report.stage_names)
    + "."
)

if report.blocks:
    st.markdown(
        "**Building blocks**: "
        + ", ".join(f"{b.count} × `{b.type}` (the first: `{b.first}`)" for b in report.blocks)
        + "."
    )
    for b in report.blocks:
        if b.note:
            st.caption(f"`{b.type}`: {b.note}.")
n_conv = len(report.conv_kinds)
if kinds := report.conv_kind_counts():
    st.markdown(
        f"Of its {n_conv} convolutions, these are of a special kind (the table's *conv* column gives every "
        "convolution's kind): "
        + ", ".join(f"{n} {kind}" for kind, n in kinds)
        + ". A **depthwise** convolution has one filter per channel (`groups` = channels, see *Convolution layer*), "
        "a **pointwise** one is 1×1 and mixes the channels at each pixel; the others are **standard**: every "
        "filter reads every input channel."
    )
elif n_conv:
    st.markdown(
        f"All {n_conv} convolutions are **standard**: every filter reads every input channel (MobileNet and "
        "EfficientNet split most of theirs into per-channel and 1×1 steps); the *conv* column gives each kernel size."
    )

st.subheader("Layer table")
table = pd.DataFrame(report.records())
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    height=min(600, 36 + 35 * len(table)),
    key="model_inspector_table",
    column_config={
        "params": st.column_config.NumberColumn("params", format="localized"),
        "macs": st.column_config.NumberColumn("MACs", format="localized"),
    },
)
log = st.toggle("Logarithmic axes", value=True, key="model_inspector_log", **KEEP)
st.plotly_chart(layer_bars_figure(s.records(), log=log), width="stretch", key="model_inspector_bars")

st.subheader("Printed module")
st.caption("`print(model)`, as on the lecture's AlexNet slide.")
st.code(report.printed, language="text")
