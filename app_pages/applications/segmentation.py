"""Segmentation: a label for every pixel. Train a person segmenter in a minute and segment a photo with it; the VOC
networks where their trained weights are installed (else their architecture); k-means and SLIC beside them."""

import functools

import numpy as np
import streamlit as st

from cnn_demo.applications import segmentation
from cnn_demo.applications.person_segmenter.model import PALETTE
from cnn_demo.data.figures import VOC_COLOURS, colourise
from cnn_demo.ui.common import inline_image, user_errors
from cnn_demo.ui.jobs import current_owner
from cnn_demo.ui.models import kmeans_labels, slic_labels
from cnn_demo.ui.picker import image_picker
from cnn_demo.ui.segmenter import person_mask, train_section, trained_segmenter, voc_networks

st.title("Image segmentation")
st.markdown(
    "Segmentation partitions an image into regions: instead of one label per image, one label **per pixel**. "
    "As in the lecture it can be **supervised** — a network trained on labelled masks names each pixel's class — "
    "or **unsupervised** — pixels are grouped by colour (and position) without any labels."
)

st.header("1. Train a person segmenter in about a minute")
st.markdown(
    "A network that labels every pixel *person* or *background*, trained here on 128 COCO photos with person masks "
    "that ship with the app, or on your own image/mask pairs. It reuses what a classifier already knows: the "
    "**EfficientNet-Lite0** trained on ImageNet stays **frozen** and supplies two feature maps, a fine one (1/8 of "
    "the photo's size: where the edges are) and a coarse one (1/32: what is there). Only a small **LR-ASPP head** "
    "(82,516 weights, from MobileNetV3's segmenter) learns to turn them into a score per pixel. The photos go "
    "through the backbone once (*features*), then the head trains for a few seconds per epoch. Held-out photos "
    "measure it with the **IoU** of the person pixels, next to the baselines that paint every pixel one class."
)
owner = current_owner()
job = model = None
with user_errors():
    job = train_section(owner)
with user_errors():
    model = trained_segmenter(job, owner)

st.header("2. Segment your photo")
left, right = st.columns([1, 2])
with left:
    img = image_picker("segmentation", default="astronaut", max_side=640)
    opacity = st.slider("Mask opacity", 0.0, 1.0, 0.6, 0.05, key="segmentation_opacity")
if img is None:
    st.stop()
arr = np.asarray(img)
person = None
with right, user_errors():
    if model is None:
        st.info(
            "Your segmenter is training above: it labels every pixel of this photo as person or background when it "
            "has finished."
            if job is not None and job.active
            else "Train the person segmenter above (one click, about a minute): then it labels every pixel of this "
            "photo as person or background.",
            icon=":material/arrow_upward:",
        )
        inline_image(st, arr, caption="Your photo, not segmented yet", width="stretch")
    elif job is not None:
        person = person_mask(model, job.job_id, arr)
        inline_image(
            st,
            segmentation.overlay(arr, person.labels, opacity, colours=PALETTE),
            caption=f"Your person segmenter: {person.share:.1%} of the pixels are {person.classes[1]} "
            f"({person.seconds * 1000:.0f} ms)",
            width="stretch",
        )
        st.download_button(
            "Mask (PNG: 0 background, 1 " + person.classes[1] + ")",
            functools.partial(segmentation.mask_png, person.labels, colours=PALETTE),  # made on click
            file_name="person-mask.png",
            mime="image/png",
            key="segmenter_mask_download",
        )

st.header("3. Networks trained on PASCAL VOC's 20 classes")
st.markdown(
    "torchvision's DeepLabV3, LR-ASPP and FCN were trained for days on COCO photos labelled with the 20 PASCAL VOC "
    "classes (person, cat, car, ...). They paint a mask only where their trained weights are installed."
)
seg = None
with user_errors():
    seg = voc_networks(arr, opacity)

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
    if person is not None:
        supervised = segmentation.overlay(arr, person.labels, opacity, colours=PALETTE)
        inline_image(a, supervised, caption="Supervised: your person segmenter", width="stretch")
    elif seg is not None:
        supervised = segmentation.overlay(arr, seg.labels, opacity)
        title = segmentation.segmenter_info(seg.model).title
        inline_image(a, supervised, caption=f"Supervised: {title}", width="stretch")
    else:
        a.info("Supervised: train the person segmenter above to see its mask here.")
    palette = VOC_COLOURS[1 : k + 1]
    inline_image(
        b,
        segmentation.mean_colour_image(arr, km),
        caption=f"k-means on colour{' + position' if spatial else ''}: {km.max() + 1} clusters in their mean colours",
        width="stretch",
    )
    inline_image(b, colourise(km, palette), caption="k-means cluster labels", width="stretch")
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
    "that shrinks hundreds of thousands of pixels to a few hundred regions. A network trained on labelled masks "
    "names the regions: the person segmenter learnt one class from 128 photos in a minute."
)
