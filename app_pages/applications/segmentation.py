"""Segmentation: a label for every pixel, supervised (trained networks) next to unsupervised (clustering)."""

import functools

import numpy as np
import streamlit as st

from cnn_demo.applications import segmentation
from cnn_demo.applications.figures import share_figure
from cnn_demo.ui.common import inline_image, user_errors
from cnn_demo.ui.models import kmeans_labels, semantic_labels, slic_labels, weights_badge, weights_state
from cnn_demo.ui.picker import image_picker

st.title("Image segmentation")
st.markdown(
    "Segmentation partitions an image into regions: instead of one label per image, one label **per pixel**. "
    "As in the lecture it can be **supervised** — a network trained on labelled masks names each pixel's class — "
    "or **unsupervised** — pixels are grouped by colour (and position) without any labels."
)

titles = {s.name: s.title for s in segmentation.SEGMENTERS}
left, right = st.columns([1, 2])
with left:
    img = image_picker("segmentation", default="chelsea", max_side=640)
    name = st.selectbox("Network", list(titles), key="segmentation_model", format_func=titles.get)
    st.caption(segmentation.segmenter_info(name).note)
    state = weights_state(name)
    opacity = st.slider("Mask opacity", 0.0, 1.0, 0.6, 0.05, key="segmentation_opacity")
with right:
    weights_badge(titles[name], state)  # above the image: an untrained network's mask must not pass for a real one
if img is None:
    st.stop()
arr = np.asarray(img)

seg = None
with user_errors():
    seg = semantic_labels(name, state.pretrained, arr)
    shares = segmentation.class_shares(seg.labels, seg.class_names)
    with right:
        inline_image(
            st,
            segmentation.overlay(arr, seg.labels, opacity),
            caption=f"{titles[name]}{'' if state.pretrained else ' (UNTRAINED)'}: {seg.seconds * 1000:.0f} ms",
            width="stretch",
        )
        colours = [segmentation.colour_hex(r["label"]) for r in shares]
        st.plotly_chart(
            share_figure(
                [r["class"] for r in shares],
                [r["share"] for r in shares],
                colours,
                "Share of pixels per class" + ("" if state.pretrained else " (UNTRAINED network: random weights)"),
            ),
            width="stretch",
            key="segmentation_shares",
        )
        untrained = "" if state.pretrained else f"UNTRAINED network (random weights): {state.command}"
        st.download_button(
            "Mask (PNG, pixel value = class index)" + (", UNTRAINED network" if untrained else ""),
            functools.partial(segmentation.mask_png, seg.labels, note=untrained),  # made on click
            file_name="mask-UNTRAINED.png" if untrained else "mask.png",
            mime="image/png",
            key="segmentation_mask_download",
        )
    st.caption(
        "Classes: the 20 PASCAL VOC classes plus background ("
        + ", ".join(c for c in seg.class_names if c != "__background__")
        + "). The legend is the bar chart: each bar has its class colour."
    )

st.header("Supervised and unsupervised, side by side")
c1, c2 = st.columns(2)
k = c1.slider("k-means: clusters K", 2, 12, 4, key="segmentation_k")
spatial = c1.slider(
    "k-means: weight on pixel position",
    0.0,
    5.0,
    0.0,
    0.25,
    key="segmentation_spatial",
    help="0 clusters by colour only; larger values also pull together pixels that are close in the image.",
)
n_segments = c2.slider("SLIC: number of superpixels", 10, 600, 150, 10, key="segmentation_slic_n")
compactness = c2.slider(
    "SLIC: compactness",
    1.0,
    40.0,
    10.0,
    1.0,
    key="segmentation_slic_compactness",
    help="Higher gives squarer superpixels; lower follows colour edges more closely.",
)
with user_errors():
    km = kmeans_labels(arr, k, spatial, 0)
    sp = slic_labels(arr, n_segments, compactness)
    a, b, c = st.columns(3)
    if seg is not None:
        inline_image(
            a,
            segmentation.overlay(arr, seg.labels, opacity),
            caption=f"Supervised: {titles[name]}{'' if state.pretrained else ' (UNTRAINED)'}",
            width="stretch",
        )
    else:
        a.info("The network could not run on this image (see the message above); the unsupervised methods still can.")
    palette = segmentation.VOC_COLOURS[1 : k + 1]
    inline_image(
        b,
        segmentation.mean_colour_image(arr, km),
        caption=f"k-means on colour{' + position' if spatial else ''}: {km.max() + 1} clusters in their mean colours",
        width="stretch",
    )
    inline_image(b, segmentation.colourise(km, palette), caption="k-means cluster labels", width="stretch")
    inline_image(
        c,
        segmentation.boundaries(arr, sp),
        caption=f"SLIC: {sp.max() + 1} superpixels",
        width="stretch",
    )
    inline_image(
        c, segmentation.mean_colour_image(arr, sp), caption="each superpixel in its mean colour", width="stretch"
    )
st.markdown(
    "k-means knows nothing about cats or people: it only puts similar colours together, so one object can split "
    "into several clusters and different objects of the same colour merge. Superpixels are a common first step "
    "that shrinks hundreds of thousands of pixels to a few hundred regions. The network, trained on labelled "
    "masks, names the regions — when it has its pretrained weights."
)
