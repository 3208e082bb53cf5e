"""The Object detection page's face detector: MTCNN's result and its cascade, stage by stage.

The model is shared by every session (``st.cache_resource``, never mutated); a cascade is cached per picture and
settings (``st.cache_data``), so moving a slider over the pyramid never re-runs the networks.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import streamlit as st

from cnn_demo.applications import faces
from cnn_demo.applications.faces import figures as F
from cnn_demo.data.samples import people_photos
from cnn_demo.io.images import to_png_bytes
from cnn_demo.ui.common import inline_image, user_errors

#: The detector selectbox's value for MTCNN.
FACES = "mtcnn"
TITLE = "Faces: MTCNN (P-Net → R-Net → O-Net)"
#: Photos of the bundled people sample (COCO train2017) with several faces, offered as samples.
GROUP_PHOTOS = {
    "Group: wine tasting (COCO)": "000000000308.jpg",
    "Group: lunch (COCO)": "000000000110.jpg",
    "Crowd: street (COCO)": "000000000395.jpg",
}


def group_photos() -> dict[str, Path]:
    """Title → file of the group photos the picker offers (those present in this install)."""
    return people_photos(GROUP_PHOTOS)


@st.cache_resource(show_spinner="Loading MTCNN…")
def shared_mtcnn() -> faces.MTCNN:
    """MTCNN's pretrained networks, one copy per server process."""
    return faces.build_mtcnn(pretrained=True)


@st.cache_data(max_entries=8, show_spinner="Looking for faces…")
def face_cascade(image: np.ndarray, config: faces.FaceConfig) -> faces.FaceCascade:
    """MTCNN's cascade on ``image`` with every stage recorded."""
    return faces.run_cascade(image, config, shared_mtcnn())


@st.cache_data(max_entries=16, show_spinner=False)
def window_check(image: np.ndarray, config: faces.FaceConfig, scale: float, row: int, col: int):
    """P-Net on one 12×12 window alone against the map's value (:func:`faces.explain.pnet_window`)."""
    from cnn_demo.applications.faces.explain import pnet_window

    return pnet_window(image, scale, row, col, config, shared_mtcnn())


def settings(container) -> faces.FaceConfig:
    """The cascade's settings, in an expander of ``container``."""
    with container.expander("Cascade settings"):
        size = st.slider(
            "Smallest face (pixels)",
            12,
            120,
            20,
            key="faces_min_size",
            help="The pyramid starts where a face this big becomes P-Net's 12 pixels. Bigger: fewer levels, faster, "
            "small faces missed.",
        )
        t1 = st.slider("P-Net threshold", 0.05, 0.99, 0.6, 0.01, key="faces_t1")
        t2 = st.slider("R-Net threshold", 0.05, 0.99, 0.7, 0.01, key="faces_t2")
        t3 = st.slider("O-Net threshold", 0.05, 0.99, 0.7, 0.01, key="faces_t3")
    return faces.FaceConfig(min_face_size=int(size), thresholds=(float(t1), float(t2), float(t3)))


def result(arr: np.ndarray, config: faces.FaceConfig, container) -> faces.FaceCascade | None:
    """The faces found, drawn with their landmarks, in ``container``; downloads and a table below. None when the
    weights are missing (said plainly, without the operator's steps)."""
    if not faces.weights_available():
        container.warning(
            "The face detector's weights are not installed on this server, so it cannot run here. "
            "Ask your teacher: the app's set-up installs them.",
            icon=":material/warning:",
        )
        return None
    with user_errors():
        cascade = face_cascade(arr, config)
        found = cascade.faces
        drawn = F.draw_faces(arr, found)
        container.caption(":material/check_circle: MTCNN (pretrained: facenet-pytorch's published weights)")
        width, height = found.image_size
        inline_image(container, drawn, caption=f"{len(found)} faces — MTCNN", width="stretch")
        container.markdown(
            f"**{len(found)} face{'s' * (len(found) != 1)}** in **{found.seconds * 1000:.0f} ms** on a "
            f"{width}×{height} image: {cascade.windows:,} windows scanned, "
            f"{len(cascade.proposals):,} proposed, {len(found)} kept."
        )
        if not len(found):
            container.info(
                "No face found in this picture. MTCNN looks for frontal or slightly turned human faces of at least "
                f"{config.min_face_size} pixels. Try a photo with people, a smaller *Smallest face* or lower "
                "thresholds under *Cascade settings*; the cascade below shows where each window was dropped.",
                icon=":material/info:",
            )
        c1, c2 = container.columns(2)
        c1.download_button(
            "Faces (PNG)",
            functools.partial(to_png_bytes, drawn),
            file_name="faces.png",
            mime="image/png",
            key="faces_png",
        )
        c2.download_button(
            "Faces (JSON)",
            lambda: json.dumps(found.to_dict(), indent=1),  # made on click
            file_name="faces.json",
            mime="application/json",
            key="faces_json",
        )
        if len(found):
            container.dataframe(found.rows(), hide_index=True, width="stretch", key="faces_table")
        return cascade
    return None


def cascade_section(arr: np.ndarray, cascade: faces.FaceCascade) -> None:
    """MTCNN's cascade as the lecture's "propose, then classify", stage by stage."""
    _, t2, t3 = cascade.config.thresholds
    st.header("Inside MTCNN: propose, then classify")
    st.markdown(
        "MTCNN is a **cascade** of three small CNNs. **P-Net** proposes: it is a classifier of 12×12 windows, "
        "slid over every level of an *image pyramid* so that faces of every size fit its window once. "
        "**R-Net** and **O-Net** classify: each looks at a crop of every surviving window (24×24, then 48×48 "
        "pixels), throws most of them away and corrects the rest's boxes; O-Net also places five landmarks. "
        "Non-maximum suppression (NMS) removes duplicates after every stage."
    )
    st.plotly_chart(F.funnel_figure(cascade.counts()), width="stretch", key="faces_funnel")
    times = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in cascade.seconds.items() if k != "total")
    st.caption(f"Windows left after each step (log scale). Time per stage: {times}.")
    tabs = st.tabs(
        [
            "1. Image pyramid",
            "2. P-Net: a sliding classifier",
            "3. Proposals",
            "4. R-Net",
            "5. O-Net",
            "6. NMS, landmarks",
        ],
        key="faces_stage",
        on_change="rerun",
    )
    if tabs[0].open:
        _pyramid_tab(tabs[0], arr, cascade)
    if tabs[1].open:
        _pnet_tab(tabs[1], arr, cascade)
    if tabs[2].open:
        _proposals_tab(tabs[2], arr, cascade)
    if tabs[3].open:
        _crops_tab(tabs[3], arr, cascade.rnet, cascade.refined, "R-Net", 24, t2)
    if tabs[4].open:
        _crops_tab(tabs[4], arr, cascade.onet, cascade.before_final_nms, "O-Net", 48, t3)
    if tabs[5].open:
        _nms_tab(tabs[5], arr, cascade)


def _pyramid_tab(tab, arr: np.ndarray, cascade: faces.FaceCascade) -> None:
    """Step 1: the image pyramid drawn to scale, and a table of its levels."""
    config, t1 = cascade.config, cascade.config.thresholds[0]
    work_w, work_h = cascade.work_size
    inline_image(tab, F.pyramid_picture(arr, cascade.pyramid), width="stretch")
    tab.caption(
        f"{len(cascade.pyramid)} levels, each {config.factor:g}× the one before (drawn to scale). The red square "
        "is P-Net's 12×12 window: the same on every level, so on smaller levels it covers bigger faces."
        + (f" The photo was first shrunk to {work_w}×{work_h}." if (work_w, work_h) != cascade.faces.image_size else "")
    )
    tab.dataframe(
        [
            {
                "level": i,
                "size": f"{lv.size[0]}×{lv.size[1]}",
                "scale": round(lv.scale, 4),
                "window covers (px of the photo)": round(lv.window, 1),
                "windows": int(lv.probability.size),
                f"≥ {t1:g}": int((lv.probability >= t1).sum()),
            }
            for i, lv in enumerate(cascade.pyramid)
        ],
        hide_index=True,
        width="stretch",
        key="faces_levels",
    )


def _proposals_tab(tab, arr: np.ndarray, cascade: faces.FaceCascade) -> None:
    """Step 3: P-Net's proposals after NMS, the best ones drawn."""
    t1 = cascade.config.thresholds[0]
    n_props = len(cascade.proposals)
    shown = n_props
    if n_props > 1:
        shown = _slider(tab, "Proposals to show", 1, n_props, min(40, n_props), "faces_topk")
    tab.plotly_chart(
        F.score_boxes_figure(arr, cascade.proposals.boxes[:shown], cascade.proposals.scores[:shown]),
        width="stretch",
        key="faces_proposals_fig",
    )
    tab.caption(
        f"{len(cascade.candidates):,} windows scored ≥ {t1:g} by P-Net; NMS within each level and then across "
        f"levels kept {len(cascade.proposals):,}. P-Net's box output moved each one, and each was made square: "
        f"these are the proposals. The best {shown} are drawn, coloured by P-Net's probability."
    )


def _nms_tab(tab, arr: np.ndarray, cascade: faces.FaceCascade) -> None:
    """Step 6: the last NMS, and the faces with their landmarks."""
    left, right = tab.columns(2)
    left.plotly_chart(
        F.nms_figure(arr, cascade.before_final_nms, cascade.final_keep),
        width="stretch",
        key="faces_nms_fig",
    )
    left.caption(
        f"O-Net passed {len(cascade.before_final_nms)} windows. The last NMS divides the overlap by the smaller "
        "box's area, so a box inside a bigger face goes too."
    )
    right.plotly_chart(F.faces_figure(arr, cascade.faces), width="stretch", key="faces_landmarks_fig")
    right.caption("The faces with O-Net's five landmarks: eyes, nose and mouth corners.")


def _slider(container, label: str, low: int, high: int, default: int, key: str) -> int:
    """A slider whose remembered value is clamped to its range first: another picture or setting changes how many
    pyramid levels and proposals there are."""
    if key in st.session_state:  # no default then: Streamlit warns when a widget gets both
        value = int(st.session_state[key])
        if not low <= value <= high:  # written only when out of range: a write sends the value back to the browser,
            st.session_state[key] = min(max(value, low), high)  # which would undo a key the student pressed meanwhile
        return int(container.slider(label, low, high, key=key))
    return int(container.slider(label, low, high, default, key=key))


def _pnet_tab(tab, arr: np.ndarray, cascade: faces.FaceCascade) -> None:
    levels = cascade.pyramid
    if not levels:
        tab.info("The picture is smaller than the smallest face size: there is no pyramid level to scan.")
        return
    i = _slider(tab, "Pyramid level", 0, len(levels) - 1, 0, "faces_level") if len(levels) > 1 else 0
    level = levels[i]
    cell = F.best_window(level)
    check = window_check(arr, cascade.config, level.scale, *cell)
    tab.plotly_chart(
        F.probability_figure(arr, level, cascade.config.thresholds[0], (check.row, check.col)),
        width="stretch",
        key="faces_pnet_fig",
    )
    c1, c2 = tab.columns([1, 4])
    inline_image(c1, np.kron(check.pixels, np.ones((8, 8, 1), np.uint8)), caption="that 12×12 window")
    c2.markdown(
        f"Level {i} is the photo at {level.scale * cascade.work_size[0] / cascade.faces.image_size[0]:.3f}× "
        f"({level.size[0]}×{level.size[1]} px); each of its {level.probability.size:,} windows covers "
        f"{level.window:.0f}×{level.window:.0f} px of the photo. One pass of P-Net's convolutions gives the whole "
        f"map on the right: one value per window, windows 2 px apart.\n\n"
        f"The most face-like window, at row {check.row}, column {check.col}: **{check.in_map:.4f}** in the map; "
        f"the same 12×12 pixels through P-Net alone: **{check.alone:.4f}**. Sliding a classifier over an image "
        "is a convolution."
    )


def _crops_tab(tab, arr: np.ndarray, crops: faces.Crops, survivors: faces.StageBoxes, net: str, side: int, t: float):
    """A refinement stage: the crops it classified, framed by score, and its survivors on the photo."""
    if not len(crops.scores):
        tab.info(f"No window reached {net}: the stage before it kept none.")
        return
    shown = min(len(crops.scores), 96)
    inline_image(tab, F.crops_mosaic(crops, limit=shown), width="stretch")
    tab.caption(
        f"What {net} saw: each window cut out of the photo and resized to {side}×{side} pixels, best first "
        f"({shown} of {len(crops.scores)}). The frame's colour is {net}'s face probability (red 0, yellow 0.5, "
        f"green 1); the {int((~crops.passed).sum())} below its threshold {t:g} are faded and dropped."
    )
    tab.plotly_chart(
        F.score_boxes_figure(arr, survivors.boxes, survivors.scores),
        width="stretch",
        key=f"faces_{net.lower().replace('-', '')}_fig",
    )
    tab.caption(
        f"The {len(survivors)} windows that passed {net}"
        + (", after NMS (IoU 0.7) and its box corrections" if net == "R-Net" else ", with O-Net's box corrections")
        + ", coloured by its probability."
    )
