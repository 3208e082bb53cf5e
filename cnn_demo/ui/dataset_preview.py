"""Showing a dataset to a student: the validation report (counts, errors, warnings, class bars), samples per class,
skipped files with their reasons and duplicates; the same for image/mask pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from cnn_demo.data import datasets as D
from cnn_demo.data.figures import PREVIEW_COLOURS, class_counts_figure, class_pixels_figure, colourise
from cnn_demo.ui.common import escape_markdown, inline_image

SAMPLES_PER_CLASS = 6
THUMB_SIDE = 200


def show_dataset_report(dataset: D.Dataset, key: str, limits: D.DatasetLimits = D.DEFAULT_LIMITS) -> None:
    """The validation report: counts, blocking errors, warnings, bar chart, samples, skipped files, duplicates."""
    report = dataset.report
    st.caption(f"Source: {escape_markdown(report.source)} · layout: {escape_markdown(report.layout)}")
    m = st.columns(4)
    m[0].metric("Images", f"{report.n_images:,}")
    m[1].metric("Classes", len(report.classes))
    m[2].metric("Skipped files", len(report.skipped))
    m[3].metric("Duplicates dropped", sum(len(d.dropped) for d in report.duplicates))
    for error in report.errors:
        st.error(escape_markdown(error), icon=":material/block:")
    for warning in report.warnings:
        st.warning(escape_markdown(warning), icon=":material/warning:")
    if report.errors:
        st.caption("Fix the problems above before training.")
    elif report.has_given_split:
        st.success("Ready: the train/ and val/ folders will be used as the split.", icon=":material/check:")
    else:
        st.success("Ready to train.", icon=":material/check:")
    if not report.errors and (hint := D.strategy_hint(report)):
        st.caption(f"Lecture, *Model zoos*: the strategy depends on the size of the dataset. {hint}")
    if report.classes:
        st.plotly_chart(
            class_counts_figure(report, limits.min_images_per_class), width="stretch", key=f"{key}_counts_chart"
        )
    _sample_grid(dataset, key)
    if report.skipped:
        with st.expander(f"Skipped files ({len(report.skipped)})"):
            skipped_files(report.skipped, f"{key}_skipped_table")
    if report.duplicates:
        with st.expander(f"Duplicate files ({len(report.duplicates)} groups)"):
            st.dataframe(
                pd.DataFrame(
                    {
                        "kept": [d.kept for d in report.duplicates],
                        "dropped": [", ".join(d.dropped) for d in report.duplicates],
                        "classes": [", ".join(d.classes) for d in report.duplicates],
                    }
                ),
                hide_index=True,
                width="stretch",
                key=f"{key}_duplicates_table",
            )


#: Details longer than this are cut off in a table cell, so they are also listed in full below it.
LONG_DETAIL = 60


def skipped_files(skipped: Sequence[D.SkippedFile], key: str, limit: int = 50) -> None:
    """The skipped files as a table (file, reason, details); details too long for a cell follow in full."""
    st.dataframe(
        pd.DataFrame(
            {
                "file": [s.path for s in skipped],
                "reason": [str(s.reason) for s in skipped],
                "details": [s.detail for s in skipped],
            }
        ),
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "file": st.column_config.TextColumn("file", width="medium"),
            "reason": st.column_config.TextColumn("reason", width="small"),
            "details": st.column_config.TextColumn("details", width="large"),
        },
    )
    long = [s for s in skipped if len(s.detail or "") > LONG_DETAIL]
    if long:
        st.markdown("**Full details**")
        st.markdown(
            "\n".join(f"- **{escape_markdown(s.path)}**: {escape_markdown(s.detail)}" for s in long[:limit])
            + (f"\n- … and {len(long) - limit} more" if len(long) > limit else "")
        )


def _sample_grid(dataset: D.Dataset, key: str) -> None:
    if not len(dataset):
        return
    names = list(dataset.class_names)
    st.markdown("**Samples per class**")
    if len(names) > 6:
        chosen = st.multiselect(
            "Classes to show", names, default=names[:6], key=f"{key}_sample_classes", max_selections=12
        )
    else:
        chosen = names
    for name in chosen:
        label = names.index(name)
        idx = dataset.indices_of(label)[:SAMPLES_PER_CLASS]
        st.markdown(f"{escape_markdown(name)} · {len(dataset.indices_of(label))} image(s)")
        if len(idx):
            inline_image(st, _thumbnails(dataset, tuple(int(i) for i in idx)), width=100)


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs={D.Dataset: lambda ds: _dataset_key(ds)})
def _thumbnails(dataset: D.Dataset, indices: tuple[int, ...]) -> list[np.ndarray]:
    """Small copies of a few images for the sample grid (decoded once per dataset, not at every rerun)."""
    out = []
    for i in indices:
        img = Image.fromarray(np.asarray(dataset.images[i]))
        img.thumbnail((THUMB_SIDE, THUMB_SIDE))
        out.append(np.asarray(img))
    return out


def _dataset_key(ds: D.Dataset) -> str:
    if isinstance(ds.images, D.DiskImages):
        return str(ds.images.folder)
    return f"{ds.name}:{id(ds)}"


def show_segmentation_report(dataset: D.SegmentationDataset, key: str, samples: int = 4) -> None:
    """Report of paired segmentation data: counts, errors, warnings, pixel share per class, samples, skipped files."""
    report = dataset.report
    st.caption(f"Source: {escape_markdown(report.source)}")
    m = st.columns(3)
    m[0].metric("Image/mask pairs", report.n_pairs)
    m[1].metric("Mask classes", dataset.num_classes)
    m[2].metric("Ignored pixels (255)", f"{report.ignore_fraction:.1%}")
    for error in report.errors:
        st.error(escape_markdown(error), icon=":material/block:")
    for warning in report.warnings:
        st.warning(escape_markdown(warning), icon=":material/warning:")
    if report.class_pixels:
        st.plotly_chart(class_pixels_figure(report, dataset.class_names), width="stretch", key=f"{key}_pixels_chart")
    if len(dataset):
        st.markdown("**Samples: image and mask** (white = ignored)")
        cols = st.columns(min(samples, len(dataset)))
        for col, i in zip(cols, range(len(dataset)), strict=False):
            with col:
                inline_image(st, [dataset.images[i], colourise(dataset.masks[i], PREVIEW_COLOURS)], width=120)
                st.caption(escape_markdown(dataset.stems[i]))
    if report.skipped:
        with st.expander(f"Skipped files ({len(report.skipped)})"):
            skipped_files(report.skipped, f"{key}_seg_skipped_table")
