"""The 'Train a person detector' page's pieces: the labelled-zip check and its report, the trained detector
(one copy per server process, ``st.cache_resource``) and its detections (``st.cache_data``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import streamlit as st

from cnn_demo.applications import person_detector as pd
from cnn_demo.applications.person_detector.figures import draw_boxes
from cnn_demo.data import boxes
from cnn_demo.errors import InputError
from cnn_demo.ui.common import escape_markdown, inline_image, retention_note

#: Photos of the people sample in the example zips a student can download.
EXAMPLE_PHOTOS = 6


def _previews(ds: boxes.BoxDataset, n: int) -> tuple[list[np.ndarray], list[str]]:
    """The first ``n`` photos with people, their boxes drawn thick enough to see in a thumbnail."""
    idx = [i for i, b in enumerate(ds.boxes) if len(b)][:n]
    images = [draw_boxes(ds.images[i], ds.boxes[i], width=max(3, max(ds.images[i].shape[:2]) // 100)) for i in idx]
    return images, [f"{len(ds.boxes[i])} person box{'' if len(ds.boxes[i]) == 1 else 'es'}" for i in idx]


@st.cache_data(max_entries=4, show_spinner="Reading the labelled photos…")
def check_labels(data: bytes, name: str, n: int = 6) -> tuple[boxes.BoxReport, list[np.ndarray], list[str]]:
    """The report of an uploaded labelled zip and ``n`` of its photos with their boxes drawn (read once per
    upload; raises :class:`InputError`)."""
    ds = boxes.read_box_zip(data, name)
    return ds.report, *_previews(ds, n)


@st.cache_data(max_entries=1, show_spinner=False)
def people_sample_preview(n: int = 6) -> tuple[list[np.ndarray], list[str], boxes.BoxReport]:
    """The first ``n`` photos of the people sample that have people, with their boxes drawn, and its report."""
    ds = boxes.load_people_sample()
    return *_previews(ds, n), ds.report


@st.cache_data(max_entries=3, show_spinner=False)
def example_zip(fmt: str) -> bytes:
    """A few photos of the people sample as a zip in one labelling format (what an upload should look like)."""
    ds = boxes.load_people_sample()
    with_people = [i for i, b in enumerate(ds.boxes) if len(b)][: EXAMPLE_PHOTOS - 1]
    idx = [*with_people, next(i for i, b in enumerate(ds.boxes) if not len(b))]
    return boxes.to_zip(ds.subset(idx), fmt)


def report_view(report: boxes.BoxReport | Mapping, container=st) -> None:
    """What was read (photos, boxes, photos without a person, other classes) and what was left out, and why."""
    r = report if isinstance(report, Mapping) else report.__dict__
    problems = [p if isinstance(p, Mapping) else p.__dict__ for p in r.get("problems", ())]
    others = ", ".join(f"{escape_markdown(c)} ({n})" for c, n in list(r.get("other_classes", ()))[:6])
    text = (
        f"**{escape_markdown(r['format'])}**: {r['n_images']} photos read, **{r['n_boxes']} person boxes**; "
        f"{r['n_without']} photos without a person (they teach what is not one)."
    )
    if others:
        text += f" Boxes of other classes, not used: {others}."
    if r.get("n_crowd"):
        text += f" {r['n_crowd']} crowd regions left out."
    if r.get("n_clipped"):
        text += f" {r['n_clipped']} boxes crossed the photo's border and were cut to it."
    container.markdown(text)
    for error in r.get("errors", ()):
        container.error(escape_markdown(error), icon=":material/error:")
    if problems:
        counts: dict[str, int] = {}
        for p in problems:
            counts[p["reason"]] = counts.get(p["reason"], 0) + 1
        summary = "; ".join(f"{reason}: {n}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        container.warning(f"Left out: {escape_markdown(summary)}.", icon=":material/warning:")
        with container.expander(f"The {len(problems)} item(s) left out, and why"):
            st.dataframe(
                [{"file": p["path"], "problem": p["reason"], "detail": p["detail"]} for p in problems[:500]],
                hide_index=True,
                width="stretch",
            )


def labels_upload(key: str, container=st) -> tuple[bytes, str] | None:
    """An uploader for a labelled zip, checked at once; the zip's bytes and name when training can use it."""
    upload = container.file_uploader(
        "A zip of photos with box labels: COCO JSON, YOLO txt (with classes.txt or data.yaml) or Pascal VOC xml",
        type=["zip"],
        key=f"{key}_zip",
    )
    retention_note("dataset", container)
    if upload is None:
        return None
    data = upload.getvalue()
    try:
        report, images, captions = check_labels(data, upload.name)
    except InputError as exc:
        container.error(escape_markdown(str(exc)), icon=":material/error:")
        return None
    if images:
        inline_image(container, images, caption=captions, width=180)
    report_view(report, container)
    if not report.ok:
        return None
    container.success(
        f"Ready to train: {report.n_images} photos, {report.n_boxes} person boxes.", icon=":material/check:"
    )
    return data, upload.name


def model_stamp(folder: Path) -> float:
    """When the detector in ``folder`` was written (part of the cache key: a job's model is written once)."""
    return (folder / pd.model.WEIGHTS_FILE).stat().st_mtime


@st.cache_resource(max_entries=4, show_spinner="Loading the trained detector…")
def trained_detector(folder: str, stamp: float) -> pd.PersonDetector:
    """A trained detector, one copy per server process, in eval mode and never changed."""
    model, _ = pd.load(folder)
    return model


@st.cache_data(max_entries=16, show_spinner="Detecting people…")
def detect_people(folder: str, stamp: float, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores (≥ 0.05) of the trained detector on ``image``, cached so the threshold slider is free."""
    return trained_detector(folder, stamp).detect(image, 0.05)


def digest(data: bytes) -> str:
    """A short name for uploaded bytes."""
    return hashlib.sha256(data).hexdigest()[:16]
