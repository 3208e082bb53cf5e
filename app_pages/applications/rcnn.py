"""R-CNN and Fast R-CNN: selective search proposes regions, an ImageNet CNN classifies them, twice over."""

import numpy as np
import streamlit as st

from cnn_demo.applications import rcnn
from cnn_demo.applications.figures import BoxGroup, boxes_figure
from cnn_demo.applications.rcnn.figures import (
    erased,
    feature_map_figure,
    grouping_picture,
    outlined,
    pair_heatmaps,
    timing_figure,
    voted,
)
from cnn_demo.applications.rcnn.proposals import working_copy
from cnn_demo.errors import InputError
from cnn_demo.ui import rcnn as shared
from cnn_demo.ui.common import escape_markdown, index_slider, inline_image, user_errors
from cnn_demo.ui.models import model_badge
from cnn_demo.ui.picker import image_picker

st.title("R-CNN and Fast R-CNN")
st.markdown(
    "The lecture's *Region-based CNNs*: **propose** candidate regions, then let a CNN **classify** each one. "
    "Here the regions come from *selective search* and the CNN is EfficientNet-Lite0, trained on ImageNet's "
    "1000 classes: no detector was trained for this page. R-CNN (2014) runs the whole CNN once per region; "
    "Fast R-CNN (2015) runs it once per image and cuts each region out of the feature map. The slide says "
    "*Faster R-CNN improves the speed of R-CNN by sharing computation*: below, that sharing is measured."
)

left, right = st.columns([1, 2])
with left:
    img = image_picker("rcnn", default="chelsea", max_side=640, extra=shared.animal_photos())
    n_props = st.slider(
        "Proposals (at most)",
        20,
        shared.MAX_PROPOSALS,
        100,
        10,
        key="rcnn_proposals",
        help="Selective search ranks its regions; R-CNN's time grows with every one kept, Fast R-CNN's hardly.",
    )
    score = st.slider(
        "Score threshold",
        0.05,
        0.95,
        0.2,
        0.05,
        key="rcnn_score",
        help="Keep a proposal when the probability of its best ImageNet class is at least this.",
    )
    iou_thr = st.slider(
        "NMS IoU threshold",
        0.1,
        0.9,
        0.3,
        0.05,
        key="rcnn_iou",
        help="Per class, drop a box that overlaps a better box of the same class by more than this (R-CNN used "
        "0.3). Moving it does not run the networks again.",
    )
if img is None:
    st.stop()
image = np.asarray(img.convert("RGB"))
loaded, clf = shared.classifier()
with right:
    model_badge(loaded)

with user_errors():
    pcfg = rcnn.ProposalConfig(max_proposals=int(n_props))
    cfg = rcnn.DetectConfig(score_threshold=float(score), nms_iou=float(iou_thr))
    props = shared.proposals(image, pcfg)
    if not len(props):
        raise InputError(rcnn.no_proposals_message())

    st.header("1. Region proposals: selective search")
    st.markdown(
        "Felzenszwalb's graph segmentation cuts the picture into small regions of similar colour. Then, again and "
        "again, the two **neighbouring** regions that are most alike (colour and texture histograms, small size, "
        "and how well they fill their joint box) are merged, until one region is left. Every region met on the "
        f"way is a candidate box. {len(props.hierarchies)} such hierarchies (two colour spaces × two segmentation "
        f"scales × two similarity mixes) gave {props.candidates:,} boxes; without duplicates, tiny or thin ones, "
        f"the best-ranked **{len(props)} proposals** remain ({props.seconds:.2f} s)."
    )
    tab1, tab2 = st.tabs(["Grouping, step by step", "The proposals"])
    with tab1:
        names = [h.strategy for h in props.hierarchies]
        which = st.selectbox("Hierarchy", range(len(names)), key="rcnn_hierarchy", format_func=lambda i: names[i])
        hier = props.hierarchies[which]
        steps = len(hier.merges)
        step = index_slider(st, "Merges done", steps + 1, default=steps // 2, key="rcnn_step")
        small, _ = working_copy(rcnn.check_image(image), pcfg.max_side)
        regions = hier.n_segments - step
        g1, g2 = st.columns(2)
        inline_image(g1, small, caption="The photo (as selective search works on it)", width="stretch")
        inline_image(
            g2,
            grouping_picture(small, hier, step),
            caption=f"{hier.n_segments} starting regions, after {step} merges: {regions} regions "
            "(each painted its mean colour; orange: the region the latest merge made)",
            width="stretch",
        )
    with tab2:
        shown = (
            st.slider("Proposals to draw", 1, len(props), min(30, len(props)), key="rcnn_shown")
            if len(props) > 1
            else 1
        )
        st.plotly_chart(
            boxes_figure(image, [BoxGroup("proposals", props.boxes[:shown], "#17becf", width=1.5)], height=480),
            width="stretch",
            key="rcnn_proposals_fig",
        )
        st.caption("Drawn in selective search's order: big regions from the top of the hierarchies tend to come first.")

    st.header("2. R-CNN: warp every proposal, run the whole CNN on each")
    input_h, input_w = clf.input_size
    st.markdown(
        f"Each proposal, widened by {cfg.context} pixels of context as in the paper, is cut out and **stretched** to "
        f"the {input_w}×{input_h} pixels the classifier was trained on (its data config says so), then the whole "
        f"network runs on it: {len(props)} proposals, {len(props)} forward passes."
    )
    result_r = shared.rcnn_result(loaded.key, clf, image, props, cfg)
    top = result_r.top_classes
    grid = min(len(props), 24)
    crops = [rcnn.warp(image, b, clf) for b in rcnn.with_context(props.boxes[:grid], cfg.context, input_w)]
    caps = [f"{i}: {clf.classes[top[i]]} {result_r.probabilities[i, top[i]]:.2f}" for i in range(grid)]
    inline_image(st, crops, caption=caps, width=112)
    st.caption(f"The first {grid} warped proposals R-CNN classified, with its best ImageNet class and probability.")

    st.header("3. Fast R-CNN: one feature map, RoIAlign, the same head")
    result_f = shared.fast_result(loaded.key, clf, image, props, cfg)
    rows, cols = clf.roi_size
    scales = ", ".join(f"{f:g}" for f in cfg.pyramid)
    st.markdown(
        f"The convolutional trunk runs **once** on the whole photo, giving a grid of 320-channel feature vectors, "
        f"one per {clf.stride}×{clf.stride} pixels. For each proposal, **RoIAlign** samples that grid inside the "
        f"proposal's box into the {rows}×{cols} grid the head expects (what the trunk makes of a {input_w}-pixel "
        "input). Only the head runs per proposal: EfficientNet-Lite0's last 1×1 convolution, batch norm, average "
        "pooling and classifier. A classifier recognises things at the size it was trained on, so, as in the Fast "
        f"R-CNN paper's multi-scale test, the photo is also shrunk (scales {scales}) and each proposal is pooled "
        f"from the scale that makes it closest to {input_w} pixels: one trunk pass per scale in use, not per "
        "proposal."
    )
    best = int(result_r.detections.proposal_index[0]) if len(result_r.detections) else 0
    pick = index_slider(st, "Proposal", len(props), default=best, key="rcnn_pick")
    st.caption(f"The slider starts at R-CNN's best box (proposal {best}); numbers as in the crops above.")
    padded = rcnn.with_context(props.boxes[pick : pick + 1], cfg.context, input_w)
    factor = cfg.pyramid[rcnn.pyramid_levels(padded, clf, cfg)[0]]
    framed, energy, (sx, sy), margin = shared.feature_energy(loaded.key, clf, image, factor, shared.scoring(cfg))
    st.plotly_chart(
        feature_map_figure(framed, energy, clf.stride, padded[0] * [sx, sy, sx, sy] + margin, clf.roi_size, factor),
        width="stretch",
        key="rcnn_feature_fig",
    )
    crop, own, pooled = shared.head_inputs(loaded.key, clf, image, props.boxes[pick], shared.scoring(cfg))
    c1, c2 = st.columns([1, 3])
    inline_image(c1, crop, caption="R-CNN's warped crop", width="stretch")
    c2.plotly_chart(
        pair_heatmaps(own, pooled, ("R-CNN: the trunk on the crop", "Fast R-CNN: RoIAlign from the shared map")),
        width="stretch",
        key="rcnn_pair_fig",
    )
    names_r = [
        f"{clf.classes[i]} {result_r.probabilities[pick, i]:.2f}" for i in np.argsort(-result_r.probabilities[pick])[:3]
    ]
    names_f = [
        f"{clf.classes[i]} {result_f.probabilities[pick, i]:.2f}" for i in np.argsort(-result_f.probabilities[pick])[:3]
    ]
    st.markdown(
        f"Proposal {pick}: R-CNN says **{escape_markdown(', '.join(names_r))}**; Fast R-CNN says "
        f"**{escape_markdown(', '.join(names_f))}**. The two 7×7 grids are alike for big boxes; for a small "
        "box the shared map has only a few cells, each of which also saw what lies around the box, so the grids "
        "and often the labels differ. Fast R-CNN therefore fine-tunes its head on such pooled features; this page "
        "uses the classifier's head as it is."
    )

    st.header("4. Which box is the best? The erase test")
    which = st.radio("Ranking of", ["R-CNN", "Fast R-CNN"], horizontal=True, key="rcnn_rank_method")
    res = result_r if which == "R-CNN" else result_f
    k = res.ranking
    if k is None or k.chosen < 0:
        st.info("No proposal is sure enough of any class to rank.")
    else:
        group_scores = rcnn.group_probabilities(res.probabilities)[:, k.group]
        j = int(np.flatnonzero(k.candidates == k.chosen)[0])
        how = "filled with the mean colour" if which == "R-CNN" else "its share of the shared map left out"
        inline_image(
            st,
            [
                outlined(image, props.boxes[k.top], (255, 127, 14)),
                outlined(image, props.boxes[k.chosen], (44, 160, 44)),
                erased(image, props.boxes[k.chosen], clf.mean),
                voted(image, props.boxes[k.candidates[k.voters]], k.box, (44, 160, 44)),
            ],
            caption=[
                f"Highest score: {k.name} {group_scores[k.top]:.2f} (proposal {k.top})",
                f"Best box: {k.name} {k.inside[j]:.2f} inside (proposal {k.chosen})",
                f"Best box erased ({how}): {k.name} {k.outside[j]:.2f} left",
                f"Voted box: the average of {int(k.voters.sum())} boxes overlapping the best one",
            ],
            width=220,
        )
        order = np.argsort(-k.scores)[:6]
        inline_image(
            st,
            [erased(image, props.boxes[k.candidates[i]], clf.mean) for i in order],
            caption=[f"{k.inside[i]:.2f} inside × (1 − {k.outside[i]:.2f} left) = {k.scores[i]:.2f}" for i in order],
            width=150,
        )
        st.markdown(
            f"The classifier is as sure of an animal's **head** as of the whole animal, and as sure of a box much "
            f"**larger** than it: the highest score (orange) rarely holds the object. So every box of the photo's "
            f"class (**{escape_markdown(k.name)}**: {len(k.candidates)} boxes scoring at least half the best) gets "
            "an **erase test**: how sure the classifier is *inside* the box, and how sure it still is of the whole "
            "photo with the box *erased*. A head leaves the body outside; a box of mostly background is unsure "
            "inside; the box that holds the animal is sure inside and leaves nothing outside. It goes first "
            f"(green). {which} erases its own way: "
            + (
                "the whole photo runs through the whole CNN again, once per box."
                if which == "R-CNN"
                else "the head averages the shared map's cells, each weighted by the share of it outside the box "
                "(a cell the box half covers counts half); no CNN runs again."
            )
            + " Proposals only roughly follow an outline, and the candidates around the best box err on different "
            f"sides: **box voting** averages the best box with the {int(k.voters.sum())} candidates (itself "
            f"included) that overlap it by at least {cfg.vote_iou:.0%} IoU, each weighted by its score above "
            "(right). The voted box is the one drawn and scored below."
        )
        st.caption(
            "Scores are per class group: a dog's probability is spread over ImageNet's 120 breeds, so the page "
            "adds a group's members up (all dogs, all cats, all birds, ...) and names the likeliest member. R-CNN "
            "itself learned this ranking from labelled boxes (an SVM per class with parts as negatives); the erase "
            "test needs no labels, but it cannot count: in a herd, erasing one animal leaves the others, so the box "
            "that empties the photo holds the whole herd (try the sample *Zebras: a herd*)."
        )

    st.header("5. Side by side")
    result = rcnn.Comparison(props, result_r, result_f)
    c1, c2 = st.columns(2)
    for col, res, colour in ((c1, result_r, "#d62728"), (c2, result_f, "#2ca02c")):
        d = res.detections
        texts = [f"{lab} {s:.2f}" for lab, s in zip(d.labels, d.scores, strict=True)]
        col.plotly_chart(
            boxes_figure(image, [BoxGroup(f"{res.method} boxes", d.boxes, colour, width=3, texts=texts)], height=380),
            width="stretch",
            key=f"rcnn_result_{res.method}",
        )
        col.markdown(
            f"**{res.method}: {len(d)} boxes** in **{res.seconds:.2f} s** ({d.above_threshold} proposals above "
            f"{score:.2f}, then NMS per class)"
        )
        if len(d):
            k = res.ranking
            ranked_first = k is not None and k.chosen >= 0 and int(d.proposal_index[0]) == k.chosen
            why = ["best box: erase test" if ranked_first and i == 0 else "by score" for i in range(len(d))]
            col.dataframe(
                {"class": list(d.labels), "score": [round(float(s), 3) for s in d.scores], "first because": why},
                hide_index=True,
                width="stretch",
                key=f"rcnn_table_{res.method}",
            )
        else:
            col.info("No proposal's best class reaches the score threshold. Lower it to see more boxes.")
    st.plotly_chart(timing_figure(result), width="stretch", key="rcnn_timing_fig")
    st.markdown(
        f"**Fast R-CNN was {result.speedup:.0f}× faster** on the same {len(props)} proposals "
        f"({result_r.seconds:.2f} s against {result_f.seconds:.3f} s; selective search took {props.seconds:.2f} s "
        f"more for both), and gave the **same top label for {result.agreement:.0%}** of them, most often for the big "
        "ones (right). Faster R-CNN (2015) then shares the feature map with the proposals too: a small network on "
        "it replaces selective search (see the Object detection page)."
    )
    st.caption(
        "Neither method was trained to draw boxes: the best box (first in each table) comes from the erase test "
        "and box voting above and is still often a part or a herd. R-CNN trained a linear SVM per class on its "
        "features with parts of objects as negatives, and a box regressor, on labelled boxes; that is what makes "
        "it a detector."
    )
