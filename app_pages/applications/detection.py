"""Object detection: MTCNN's faces on every install, torchvision's COCO detectors where their weights are installed
(their architecture where not), what happens inside Faster R-CNN, one stage or two, and IoU."""

import functools

import numpy as np
import streamlit as st

from cnn_demo.applications import detection
from cnn_demo.applications.detection.architecture import parts_table
from cnn_demo.applications.detection.diagram import lane_key, pipelines_figure
from cnn_demo.applications.figures import BoxGroup, boxes_figure, iou_figure
from cnn_demo.applications.metrics import box_intersection, box_iou
from cnn_demo.io.images import to_png_bytes
from cnn_demo.ui import faces as face_ui
from cnn_demo.ui.common import index_slider, inline_image, user_errors
from cnn_demo.ui.models import raw_detections, rcnn_internals, weights_state
from cnn_demo.ui.picker import image_picker

st.title("Object detection")
st.markdown(
    "A detector finds **every** object in the picture: for each one a box $(x_0, y_0, x_1, y_1)$, a class and a "
    "score. The lecture's *Region-based CNNs*: **propose** candidate regions, then let a CNN **classify** each "
    "region. MTCNN does exactly that for faces, with three small pretrained CNNs; torchvision's Faster R-CNN, "
    "RetinaNet, SSD and FCOS know the 80 classes of COCO when their COCO-trained weights are installed."
)

coco = {d.name: d for d in detection.DETECTORS}
ready = {n: weights_state(n).pretrained for n in coco}
choices = [face_ui.FACES, *coco]
default = detection.DEFAULT_DETECTOR if ready[detection.DEFAULT_DETECTOR] else face_ui.FACES


def _label(name: str) -> str:
    if name == face_ui.FACES:
        return face_ui.TITLE
    return coco[name].title + ("" if ready[name] else " — architecture only")


left, right = st.columns([1, 2])
with left:
    name = st.selectbox(
        "Detector",
        choices,
        index=choices.index(default),
        key="detection_model",
        format_func=_label,
        help="MTCNN finds faces on every install. A COCO detector finds objects only where its COCO-trained weights "
        "are installed; elsewhere the page shows how it is built.",
    )
    photos = face_ui.group_photos()
    img = image_picker(
        "detection",
        default=next(iter(photos), "astronaut") if name == face_ui.FACES else "chelsea",
        max_side=1024 if name == face_ui.FACES else 800,
        extra=photos,
    )
family = "cascade" if name == face_ui.FACES else coco[name].family


def coco_detections(arr: np.ndarray, info: detection.DetectorInfo) -> detection.Detections:
    """A pretrained COCO detector's boxes on the picture, with its sliders (which never re-run the network)."""
    with left:
        score = st.slider(
            "Score threshold", 0.0, 1.0, 0.5, 0.01, key="detection_score", help="Keep boxes whose score is above this."
        )
        iou_thr = st.slider(
            "NMS IoU threshold",
            0.05,
            1.0,
            info.default_iou,
            0.05,
            key="detection_iou",
            help="Non-maximum suppression drops a box that overlaps a better box of the same class by more than "
            f"this. torchvision's default for this model is {info.default_iou}. Changing it does not re-run the "
            "network.",
        )
        classes = st.multiselect(
            "Only these classes (empty = all)",
            [c for c in info.categories if c not in ("__background__", "N/A")],
            key="detection_classes",
        )
        max_det = st.number_input("Maximum detections", 1, 300, 100, key="detection_max")
    right.caption(f":material/check_circle: {info.title} (pretrained on COCO)")
    raw = raw_detections(info.name, True, arr)
    dets = detection.filter_detections(
        raw, info, score_threshold=score, iou_threshold=iou_thr, classes=classes or None, max_detections=int(max_det)
    )
    annotated = detection.draw_detections(arr, dets)
    with right:
        inline_image(st, annotated, caption=f"{len(dets)} detections — {info.title}", width="stretch")
        st.markdown(
            f"**{len(dets)} objects** above score {score:.2f} (from {len(raw.scores)} raw candidates). Inference took "
            f"**{raw.seconds * 1000:.0f} ms** on a {raw.image_size[0]}×{raw.image_size[1]} image."
        )
        if info.masks:
            st.caption("Mask R-CNN keeps its own NMS at 0.5 before the slider: the slider can only tighten it here.")
        c1, c2 = st.columns(2)
        c1.download_button(
            "Annotated image (PNG)",
            functools.partial(to_png_bytes, annotated),  # made on click: no media file a quick rerun can delete
            file_name="detections.png",
            mime="image/png",
            key="detection_png",
        )
        c2.download_button(
            "Detections (COCO JSON)",
            functools.partial(detection.to_coco_json, dets),
            file_name="detections.json",
            mime="application/json",
            key="detection_json",
        )
    if len(dets):
        st.dataframe(dets.rows(), width="stretch", hide_index=True, key="detection_table")
    else:
        st.info("No box is above the score threshold. Lower it, or pick another class filter.")
    return dets


def architecture(info: detection.DetectorInfo) -> None:
    """A COCO detector without its weights: how it is built, never boxes or scores from random weights."""
    with right:
        st.info(
            f"**Architecture only.** {info.title} finds objects with its COCO-trained weights, which are not "
            "installed on this server. With random weights it would draw boxes that mean nothing, so here it draws "
            f"none: below is how it is built. For a detector that works everywhere, choose *{face_ui.TITLE}*.",
            icon=":material/info:",
        )
        st.dataframe(
            parts_table(info.name),
            hide_index=True,
            width="stretch",
            key="detection_parts",
            column_config={"parameters": st.column_config.NumberColumn(format="localized")},
        )
        st.caption(
            f"{info.title}: a {info.family} detector. {info.note} Parameters per part, counted on the network "
            "built without weights."
        )


def faster_rcnn(arr: np.ndarray, chosen: str, final: detection.Detections | None) -> None:
    """Anchors (geometry: with or without weights), and with COCO weights the RPN's proposals and the final boxes."""
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
    two_stage = chosen if coco[chosen].family == "two-stage" else detection.DEFAULT_DETECTOR
    if two_stage != chosen:
        st.caption(f"{coco[chosen].title} is a one-stage detector, so this part uses {coco[two_stage].title}.")
    trained = ready[two_stage]
    # Anchors and feature-map sizes are geometry; without weights nothing the network scores is shown.
    internals = rcnn_internals(two_stage, trained, arr)
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
    dots = BoxGroup("anchor centres", np.hstack([centre_pts - 1, centre_pts + 1]), "#ffffff", width=1)
    anchor_fig = boxes_figure(
        arr, [dots, BoxGroup("anchors of the chosen cell", anchors, "#ff7f0e", width=3)], height=520
    )
    anchor_caption = (
        f"{internals.anchors_per_location} anchors per cell at this level (sizes × aspect ratios); {n_anchors:,} "
        f"anchors over all levels. The network saw the image resized to "
        f"{internals.resized_size[0]}×{internals.resized_size[1]}."
    )
    if not trained:
        st.plotly_chart(anchor_fig, width="stretch", key="detection_anchors_fig")
        st.caption(
            anchor_caption + " Anchors are geometry, the same with or without weights. The RPN's proposals and the "
            "final boxes come from the trained network, so they appear only where its COCO weights are installed."
        )
        return
    n_props = len(internals.proposals)
    top = (
        st.slider("Region proposals to show", 1, n_props, min(20, n_props), key="detection_topk")
        if n_props > 1
        else n_props
    )
    tab1, tab2, tab3 = st.tabs(["1. Anchors", "2. Region proposals (RPN)", "3. Final boxes"])
    tab1.plotly_chart(anchor_fig, width="stretch", key="detection_anchors_fig")
    tab1.caption(anchor_caption)
    texts = [f"objectness {p:.2f}" for p in internals.objectness[:top]]
    props = BoxGroup("proposals", internals.proposals[:top], "#17becf", texts=texts)
    tab2.plotly_chart(boxes_figure(arr, [props], height=520), width="stretch", key="detection_props_fig")
    tab2.caption(f"The RPN keeps {n_props} proposals after its own NMS; the best {top} are drawn.")
    if final is None or two_stage != chosen:
        final = detection.filter_detections(
            raw_detections(two_stage, True, arr), detection.detector_info(two_stage), score_threshold=0.5
        )
    boxes = [BoxGroup("final boxes", final.boxes, "#d62728", texts=final.box_labels)]
    tab3.plotly_chart(boxes_figure(arr, boxes, height=520), width="stretch", key="detection_final_fig")
    tab3.caption("After the ROI heads: class scores, refined boxes, score threshold and NMS per class.")


if img is not None:
    arr = np.asarray(img)
    if name == face_ui.FACES:
        config = face_ui.settings(left)
        cascade = face_ui.result(arr, config, right)
        if cascade is not None:
            face_ui.cascade_section(arr, cascade)
    else:
        with user_errors():
            dets = coco_detections(arr, coco[name]) if ready[name] else None
            if dets is None:
                architecture(coco[name])
            faster_rcnn(arr, name, dets)

st.header("One stage or two?")
st.markdown(
    "Every detector here proposes and classifies, but not in the same way. **Two-stage** detectors propose "
    "regions first and classify each one; **one-stage** detectors classify every feature-map cell directly; "
    "MTCNN is a **cascade** of ever bigger CNNs on ever fewer crops. All of them end with non-maximum suppression. "
    "The row of the detector chosen above is shaded."
)
st.plotly_chart(pipelines_figure(lane_key(family)), width="stretch", key="detection_pipelines_fig")

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
