"""Object detection: torchvision's COCO detectors on the student's image, and what happens inside Faster R-CNN."""

import functools

import numpy as np
import streamlit as st

from cnn_demo.applications import detection
from cnn_demo.applications.figures import BoxGroup, boxes_figure, iou_figure
from cnn_demo.applications.metrics import box_intersection, box_iou
from cnn_demo.io.images import to_png_bytes
from cnn_demo.ui.common import index_slider, inline_image, user_errors
from cnn_demo.ui.models import raw_detections, rcnn_internals, weights_badge, weights_state
from cnn_demo.ui.picker import image_picker

st.title("Object detection")
st.markdown(
    "A detector finds **every** object in the picture: for each one a box $(x_0, y_0, x_1, y_1)$, a class and a "
    "score. The lecture's *Region-based CNNs*: propose candidate regions, then let a CNN classify each region. "
    "The networks come from torchvision; with their pretrained weights they know the 80 classes of COCO."
)

titles = {d.name: d.title for d in detection.DETECTORS}
left, right = st.columns([1, 2])
with left:
    img = image_picker("detection", default="chelsea", max_side=800)
    name = st.selectbox(
        "Detector",
        list(titles),
        key="detection_model",
        format_func=titles.get,
        help="The first one is fast on a CPU; the ResNet-50 ones take several seconds per image.",
    )
    info = detection.detector_info(name)
    state = weights_state(name)
    score = st.slider(
        "Score threshold",
        0.0,
        1.0,
        0.5 if state.pretrained else 0.1,
        0.01,
        key="detection_score",
        help="Keep boxes whose score is above this.",
    )
    iou_thr = st.slider(
        "NMS IoU threshold",
        0.05,
        1.0,
        info.default_iou,
        0.05,
        key="detection_iou",
        help="Non-maximum suppression drops a box that overlaps a better box of the same class by more than this. "
        f"torchvision's default for this model is {info.default_iou}. Changing it does not re-run the network.",
    )
    classes = st.multiselect(
        "Only these classes (empty = all)",
        [c for c in info.categories if c not in ("__background__", "N/A")],
        key="detection_classes",
    )
    max_det = st.number_input("Maximum detections", 1, 300, 100, key="detection_max")

with right:
    weights_badge(info.title, state)  # above the image: an untrained network's boxes must not pass for real ones
if img is None:
    st.stop()
arr = np.asarray(img)

with user_errors():
    raw = raw_detections(name, state.pretrained, arr)
    dets = detection.filter_detections(
        raw,
        info,
        score_threshold=score,
        iou_threshold=iou_thr,
        classes=classes or None,
        max_detections=int(max_det),
        pretrained=state.pretrained,
    )
    annotated = detection.draw_detections(arr, dets)
    with right:
        inline_image(st, annotated, caption=f"{len(dets)} detections — {info.title}", width="stretch")
        st.markdown(
            f"**{len(dets)} objects** above score {score:.2f} "
            f"(from {len(raw.scores)} raw candidates). Inference took **{raw.seconds * 1000:.0f} ms** "
            f"on a {raw.image_size[0]}×{raw.image_size[1]} image."
        )
        if info.masks:
            st.caption("Mask R-CNN keeps its own NMS at 0.5 before the slider: the slider can only tighten it here.")
        c1, c2 = st.columns(2)
        c1.download_button(
            "Annotated image (PNG)" + ("" if state.pretrained else ", UNTRAINED network"),
            functools.partial(to_png_bytes, annotated),  # made on click: no media file a quick rerun can delete
            file_name="detections.png" if state.pretrained else "detections-UNTRAINED.png",
            mime="image/png",
            key="detection_png",
        )
        c2.download_button(
            "Detections (COCO JSON)" + ("" if state.pretrained else ", UNTRAINED network"),
            functools.partial(detection.to_coco_json, dets),
            file_name="detections.json" if state.pretrained else "detections-UNTRAINED.json",
            mime="application/json",
            key="detection_json",
        )
    if len(dets):
        st.dataframe(dets.rows(), width="stretch", hide_index=True, key="detection_table")
    else:
        st.info("No box is above the score threshold. Lower it, or pick another class filter.")

st.header("How Faster R-CNN works")
st.markdown(
    "Faster R-CNN has **two stages**. A backbone CNN with a feature pyramid (FPN) turns the image into feature "
    "maps at several resolutions. **Stage 1, the region proposal network (RPN)**, places *anchors* — boxes of "
    "a few sizes and aspect ratios — on every cell of every feature map and predicts for each one an "
    "*objectness* score and a correction of its box. The best few hundred corrected anchors, after NMS, are the "
    "**region proposals**. **Stage 2, the ROI heads**, cut each proposal's features out of the feature map "
    "(RoIAlign), classify them into the 80 classes and refine the box again; NMS per class gives the final "
    "boxes. The features are computed once and shared by both stages: that is what made it *Faster*."
)
two_stage = name if info.family == "two-stage" else detection.DEFAULT_DETECTOR
if two_stage != name:
    st.caption(f"{info.title} is a one-stage detector, so this part uses {titles[two_stage]}.")
ts_state = weights_state(two_stage)
with user_errors():
    internals = rcnn_internals(two_stage, ts_state.pretrained, arr)
    levels = [
        f"{n}: {r}×{c} cells, every {s:.0f} px" for n, (r, c), s in zip(
            internals.level_names, internals.feature_sizes, internals.strides, strict=True
        )
    ]  # fmt: skip
    c1, c2, c3 = st.columns(3)
    level = c1.selectbox("Feature level", range(len(levels)), key="detection_level", format_func=lambda i: levels[i])
    rows, cols = internals.feature_sizes[level]
    row = index_slider(c2, "Cell row", rows, key="detection_cell_row")
    col = index_slider(c3, "Cell column", cols, key="detection_cell_col")
    anchors = detection.anchors_at(internals, level, row, col)
    centres = internals.anchors[level].reshape(rows * cols, internals.anchors_per_location, 4)[:, 0]
    centre_pts = np.stack([(centres[:, 0] + centres[:, 2]) / 2, (centres[:, 1] + centres[:, 3]) / 2], 1)
    n_anchors = sum(len(a) for a in internals.anchors)
    n_props = len(internals.proposals)
    top = (
        st.slider("Region proposals to show", 1, n_props, min(20, n_props), key="detection_topk")
        if n_props > 1
        else n_props
    )
    tab1, tab2, tab3 = st.tabs(["1. Anchors", "2. Region proposals (RPN)", "3. Final boxes"])
    dots = BoxGroup("anchor centres", np.hstack([centre_pts - 1, centre_pts + 1]), "#ffffff", width=1)
    tab1.plotly_chart(
        boxes_figure(arr, [dots, BoxGroup("anchors of the chosen cell", anchors, "#ff7f0e", width=3)], height=520),
        width="stretch",
        key="detection_anchors_fig",
    )
    tab1.caption(
        f"{internals.anchors_per_location} anchors per cell at this level (sizes × aspect ratios); {n_anchors:,} "
        f"anchors over all levels. The network saw the image resized to "
        f"{internals.resized_size[0]}×{internals.resized_size[1]}."
    )
    props = BoxGroup(
        "proposals",
        internals.proposals[:top],
        "#17becf",
        texts=[f"objectness {p:.2f}" for p in internals.objectness[:top]],
    )
    tab2.plotly_chart(boxes_figure(arr, [props], height=520), width="stretch", key="detection_props_fig")
    tab2.caption(f"The RPN keeps {len(internals.proposals)} proposals after its own NMS; the best {top} are drawn.")
    if two_stage == name:
        final = dets
    else:
        final = detection.filter_detections(
            raw_detections(two_stage, ts_state.pretrained, arr),
            detection.detector_info(two_stage),
            score_threshold=score,
            pretrained=ts_state.pretrained,
        )
    tab3.plotly_chart(
        boxes_figure(
            arr,
            [
                BoxGroup(
                    "final boxes" + ("" if final.pretrained else ", UNTRAINED network"),
                    final.boxes,
                    "#d62728",
                    texts=final.box_labels,
                )
            ],
            height=520,
        ),
        width="stretch",
        key="detection_final_fig",
    )
    tab3.caption("After the ROI heads: class scores, refined boxes, score threshold and NMS per class.")
    if not ts_state.pretrained:
        st.caption("Untrained network: the anchors are real, but the proposals and boxes come from random weights.")

st.header("One stage or two?")
st.markdown(
    "**Two-stage** detectors (Faster R-CNN, Mask R-CNN) first propose regions, then classify each one: accurate, "
    "slower. **One-stage** detectors (RetinaNet, SSD, FCOS) predict classes and boxes directly on every "
    "feature-map cell in a single pass: simpler and often faster; RetinaNet's *focal loss* copes with the many "
    "empty cells, FCOS even drops anchors. All of them end with non-maximum suppression."
)
st.dataframe(
    [
        {
            "detector": d.title,
            "kind": d.family,
            "COCO box mAP (torchvision)": d.coco_map,
            "default NMS IoU": d.default_iou,
            "note": d.note,
        }
        for d in detection.DETECTORS
    ],
    hide_index=True,
    width="stretch",
    key="detection_models_table",
)

st.header("Intersection over union")
st.markdown(
    r"How well does a box match another? $\mathrm{IoU}(A, B) = \dfrac{|A \cap B|}{|A \cup B|}$: 1 for the same box, "
    "0 when they do not touch. NMS drops a box whose IoU with a better one is above its threshold; COCO counts "
    "a detection as correct when its IoU with the true box is at least 0.5 (AP50) … 0.95. Move the boxes."
)
ca, cb, cfig = st.columns([1, 1, 2])
with ca:
    st.markdown("**Box A**")
    ax = st.slider("A: x", 0, 90, 15, key="detection_ax")
    ay = st.slider("A: y", 0, 90, 20, key="detection_ay")
    aw = st.slider("A: width", 5, 100, 40, key="detection_aw")
    ah = st.slider("A: height", 5, 100, 40, key="detection_ah")
with cb:
    st.markdown("**Box B**")
    bx = st.slider("B: x", 0, 90, 35, key="detection_bx")
    by = st.slider("B: y", 0, 90, 40, key="detection_by")
    bw = st.slider("B: width", 5, 100, 40, key="detection_bw")
    bh = st.slider("B: height", 5, 100, 40, key="detection_bh")
box_a = (ax, ay, ax + aw, ay + ah)
box_b = (bx, by, bx + bw, by + bh)
inter_box = box_intersection(box_a, box_b)
inter = 0 if inter_box is None else (inter_box[2] - inter_box[0]) * (inter_box[3] - inter_box[1])
union = aw * ah + bw * bh - inter
iou = float(box_iou(box_a, box_b)[0, 0])
with cfig:
    st.plotly_chart(iou_figure(box_a, box_b, inter_box, size=130), width="stretch", key="detection_iou_fig")
    st.markdown(
        f"|A ∩ B| = {inter} px², |A ∪ B| = {aw * ah} + {bw * bh} − {inter} = {union} px² → "
        f"**IoU = {inter} / {union} = {iou:.3f}**"
    )
