"""The Segmentation page's trained parts: the person segmenter (train it as a job, follow it, segment the photo with
it) and torchvision's VOC segmenters, which paint masks only with their trained weights (else: architecture)."""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import streamlit as st

from cnn_demo import jobs
from cnn_demo.applications import person_segmenter as ps
from cnn_demo.applications import segmentation
from cnn_demo.applications.figures import share_figure
from cnn_demo.data.figures import colour_hex
from cnn_demo.errors import InputError
from cnn_demo.ui.common import escape_markdown, inline_image, retention_note, user_errors
from cnn_demo.ui.epochs import epoch_slider
from cnn_demo.ui.jobs import job_panel, page_job, submit_job
from cnn_demo.ui.models import load_model, semantic_labels, shared_copy, weights_state
from cnn_demo.viz import curves_figure, metric_curves

KIND = "person_segmenter"
JOB_KEY = "segmenter_job"
DATA_LABELS = {
    "people": "The people sample: 128 COCO photos with person masks (ships with the app)",
    "upload": "My image/mask pairs (zip)",
}


# ---------------------------------------------------------------------------------------------- shared models


@st.cache_resource(max_entries=64, show_spinner="Loading the trained segmenter…")
def _shared_segmenter(folder: str, stamp: float) -> ps.PersonSegmenter:
    """A trained segmenter, its backbone the process-wide EfficientNet-Lite0 (only the small head is per job)."""
    backbone = load_model(ps.BACKBONE)
    if not backbone.pretrained:
        raise InputError(
            "The ImageNet weights of EfficientNet-Lite0 are missing on this server, so the segmenter cannot run. "
            "Ask the person who runs the server to complete the set-up."
        )
    model = ps.load_segmenter(folder, backbone.model)
    shared_copy(model.head)
    return model


def trained_segmenter(job: jobs.JobStatus | None, owner: str) -> ps.PersonSegmenter | None:
    """The segmenter of a finished job of this user, or ``None``."""
    if job is None or job.state != "done" or job.kind != KIND:
        return None
    folder = ps.model_folder(jobs.job_folder(job.job_id, owner))
    info = folder / "segmenter.json"
    if not info.is_file():
        return None
    return _shared_segmenter(str(folder), info.stat().st_mtime)


@st.cache_data(max_entries=16, show_spinner="Segmenting the photo…")
def person_mask(_model: ps.PersonSegmenter, key: str, image: np.ndarray) -> ps.PersonMask:
    """:func:`~cnn_demo.applications.person_segmenter.segment`, cached per segmenter (``key``) and photo."""
    return ps.segment(_model, image)


# ---------------------------------------------------------------------------------------------- training


def _upload(container) -> bytes | None:
    """An uploader for a zip of image/mask pairs, checked at once; only the digest and the outcome are kept."""
    upload = container.file_uploader(
        "A zip with images/ and masks/ (masks: 0 background, 1 the class to learn, or PASCAL VOC classes; 255 = "
        "ignore)",
        type=["zip"],
        key="segmenter_zip",
    )
    retention_note("dataset", container)
    if upload is None:
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    cached = st.session_state.get("segmenter_zip_check")
    if cached is None or cached[0] != digest:
        try:
            with st.spinner("Checking the image/mask pairs…"):
                pairs = ps.check_pairs_zip(data, upload.name)
        except InputError as exc:
            cached = (digest, str(exc), "")
        else:
            cached = (digest, None, f"{len(pairs)} image/mask pairs: it will learn {pairs.classes[1]} ({pairs.rule}).")
        st.session_state["segmenter_zip_check"] = cached
    _, error, info = cached
    if error is not None:
        container.error(escape_markdown(error), icon=":material/error:")
        return None
    container.success(escape_markdown(info), icon=":material/check:")
    return data


def train_section(owner: str) -> jobs.JobStatus | None:
    """Choose the data, press Train, follow the job; returns the job shown (or ``None``)."""
    cfg = ps.SegmenterConfig()
    data = st.radio("Photos to learn from", list(DATA_LABELS), format_func=DATA_LABELS.get, key="segmenter_data")
    files = None
    if data == "upload":
        pairs = _upload(st)
        files = None if pairs is None else {"pairs.zip": pairs}
    if st.button("Train the person segmenter", type="primary", key="segmenter_train", icon=":material/school:"):
        with user_errors():
            if data == "upload" and files is None:
                st.warning("Upload a zip of usable image/mask pairs first.")
            else:
                submit_job(KIND, ps.SegmenterParams(data, cfg).to_dict(), owner, JOB_KEY, files=files)
    return job_panel(
        page_job(JOB_KEY),
        owner,
        JOB_KEY,
        kind=KIND,
        live=functools.partial(show_job, owner=owner),
        empty="No segmenter trained in this session yet: press the button (about a minute).",
        refresh_s=2.0,
    )


def _scores_table(result: ps.SegmenterResult) -> list[dict]:
    classes = result.classes
    rows = [("this segmenter", result.validation), *result.baselines.items()]
    return [
        {
            "on the validation photos": name,
            f"IoU {classes[1]}": r["iou"][classes[1]],
            f"IoU {classes[0]}": r["iou"][classes[0]],
            "mean IoU": r["mean_iou"],
        }
        for name, r in rows
    ]


def show_job(job: jobs.JobStatus, owner: str) -> None:
    """Curves and the validation photos' masks per epoch (refreshed by the job panel), then the final scores."""
    if job.metrics:
        a, b = st.columns(2)
        a.plotly_chart(
            curves_figure(metric_curves(job.metrics, ["loss"]), title="Training loss"),
            width="stretch",
            key="segmenter_loss",
        )
        baseline = next((k for k in job.metrics[-1] if k.startswith("baseline: all ")), "")
        learnt = baseline.removeprefix("baseline: all ") or "person"
        curve_rows = [
            {"epoch": m["epoch"], f"IoU {learnt}": m["iou"], f"painting all {learnt}": m.get(baseline)}
            for m in job.metrics
            if "iou" in m
        ]
        title = f"Validation IoU of {learnt}, and of painting every pixel {learnt}"
        keys = [f"IoU {learnt}", f"painting all {learnt}"]
        b.plotly_chart(
            curves_figure(metric_curves(curve_rows, keys), title=title), width="stretch", key="segmenter_iou"
        )
    previews = ps.load_previews(jobs.job_folder(job.job_id, owner))
    if previews["pred"]:
        shown = epoch_slider("Validation masks after epoch", sorted(previews["pred"]), "segmenter_view_epoch", job)
        pictures = [
            np.hstack(
                [
                    img,
                    segmentation.overlay(img, truth, 0.6, colours=ps.model.PALETTE),
                    segmentation.overlay(img, pred, 0.6, colours=ps.model.PALETTE),
                ]
            )
            for img, truth, pred in zip(previews["images"], previews["truth"], previews["pred"][shown], strict=True)
        ]
        caption = f"photo | true mask | mask after epoch {shown}"
        inline_image(st, pictures, caption=[caption] * len(pictures), width=576)
    if job.state == "done" and job.result:
        r = ps.SegmenterResult.from_dict(job.result)
        st.markdown(
            f"Trained on **{r.n_train} photos**, checked on **{r.n_val} others** it never saw, from "
            f"{escape_markdown(r.data)}. Features "
            + ("came from the cache" if r.features_from_cache else f"took {r.feature_seconds:.0f} s")
            + f", the head {r.train_seconds:.0f} s."
        )
        st.dataframe(_scores_table(r), hide_index=True, width="stretch", key="segmenter_scores")
        st.caption(
            "IoU = overlap / union of the predicted and the true pixels of a class, pooled over the validation "
            "photos at their own size. The baselines paint every pixel one class: a segmenter that learnt nothing "
            "scores like one of them."
        )


# ---------------------------------------------------------------------------------------------- VOC networks


@st.cache_data(max_entries=8, show_spinner=False)
def architecture_rows(name: str) -> list[dict]:
    """``segmentation.architecture(name)``, cached for every session: it builds the network once."""
    return segmentation.architecture(name)


def architecture_view(name: str, title: str) -> None:
    """What a network without its trained weights is built of: stages, shapes, parameters. It never runs."""
    st.info(
        f"**{title}: architecture only.** Its trained weights are not installed on this server, so the page does "
        "not run it: with random weights it would still paint a mask, and that mask would be noise dressed up as "
        "an answer. Here is what it is built of.",
        icon=":material/account_tree:",
    )
    rows = architecture_rows(name)
    table = [
        {
            "stage": r["stage"],
            "output (channels × height × width)": " × ".join(map(str, r["shape"])),
            "stride": r["stride"],
            "parameters": "" if r["parameters"] is None else f"{r['parameters']:,}",
            "what it is": r["what"],
        }
        for r in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch", key="segmentation_architecture")
    total = sum(r["parameters"] or 0 for r in rows)
    classes = segmentation.segmenter_info(name).categories
    st.caption(
        f"{total:,} parameters, all of which would have to be learnt from labelled masks; the head scores "
        f"{len(classes)} classes (PASCAL VOC's 20 and background) at every position of the feature map. The person "
        "segmenter above learns only a small head on frozen features: about a minute instead of days on GPUs."
    )


def voc_networks(arr: np.ndarray, opacity: float) -> segmentation.Segmentation | None:
    """Pick a VOC network; with its trained weights, its mask, class shares and mask download; without them, its
    architecture only. Returns the segmentation when the network ran."""
    titles = {s.name: s.title for s in segmentation.SEGMENTERS}
    left, right = st.columns([1, 2])
    names: list[str] = list(titles)
    name = str(left.selectbox("Network", names, key="segmentation_model", format_func=lambda n: titles[n]))
    left.caption(segmentation.segmenter_info(name).note)
    state = weights_state(name)
    if not state.pretrained:
        with right:
            architecture_view(name, titles[name])
        return None
    right.caption(f":material/check_circle: {titles[name]} (pretrained)")
    seg = semantic_labels(name, True, arr)
    shares = segmentation.class_shares(seg.labels, seg.class_names)
    inline_image(
        right,
        segmentation.overlay(arr, seg.labels, opacity),
        caption=f"{titles[name]}: {seg.seconds * 1000:.0f} ms",
        width="stretch",
    )
    colours = [colour_hex(r["label"]) for r in shares]
    right.plotly_chart(
        share_figure([r["class"] for r in shares], [r["share"] for r in shares], colours, "Share of pixels per class"),
        width="stretch",
        key="segmentation_shares",
    )
    right.download_button(
        "Mask (PNG, pixel value = class index)",
        functools.partial(segmentation.mask_png, seg.labels),  # made on click
        file_name="mask.png",
        mime="image/png",
        key="segmentation_mask_download",
    )
    st.caption(
        "Classes: the 20 PASCAL VOC classes plus background ("
        + ", ".join(c for c in seg.class_names if c != "__background__")
        + "). The legend is the bar chart: each bar has its class colour."
    )
    return seg
