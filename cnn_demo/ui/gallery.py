"""Streamlit side of the class gallery (:mod:`cnn_demo.jobs.gallery`): the publish box under a finished
fine-tuning run, and the gallery page's leaderboard and read-only view of one run."""

from __future__ import annotations

import streamlit as st

from cnn_demo import jobs
from cnn_demo.finetune.figures import HISTORY_LAYOUT, confusion_figure, history_curves
from cnn_demo.jobs import gallery
from cnn_demo.ui.common import escape_markdown, inline_image, user_errors
from cnn_demo.ui.jobs import display_name
from cnn_demo.viz import curves_figure

PAGE = "app_pages/classroom/gallery.py"


def teacher_here() -> bool:
    """Whether the person using the app is the class's teacher (``cnn_demo.ui.teacher``, where installed)."""
    try:
        from cnn_demo.ui.teacher import is_teacher  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    try:
        return bool(is_teacher())
    except Exception:  # a teacher check that fails shows no teacher's buttons
        return False


def publish_box(status: jobs.JobStatus, owner: str) -> None:
    """Publish a finished run read-only to the class gallery, or take it out again."""
    st.subheader("Share with your class")
    if gallery.is_publisher(status.job_id, owner) and (mine := gallery.entry(status.job_id)) is not None:
        st.success(
            f"Published to the class gallery as **{escape_markdown(mine.name)}**"
            + (" with the model to download." if mine.has_model else "."),
            icon=":material/public:",
        )
        st.page_link(PAGE, label="Open the class gallery", icon=":material/leaderboard:")
        if st.button("Unpublish", key="gallery_unpublish", icon=":material/public_off:"):
            with user_errors():
                gallery.unpublish(status.job_id, owner)
                st.rerun()
        return
    st.caption(
        "Everyone in the class sees the run read-only: your display name, the dataset's name and size, the "
        "accuracies with their baselines, the curves, the confusion matrix and the mistakes' thumbnails (and the "
        "model, if you tick it). The job itself, its link's recovery code and your training images stay yours."
    )
    if not st.session_state.get("gallery_name"):  # the name given under the job panel, unless one was typed here
        st.session_state["gallery_name"] = display_name()[: gallery.MAX_NAME]
    with st.form("gallery_publish_form", border=False):
        name = st.text_input("Display name", max_chars=gallery.MAX_NAME, key="gallery_name")
        model = st.checkbox("Let others download the model", key="gallery_model")
        if st.form_submit_button("Publish to the class gallery", icon=":material/public:"):
            with user_errors():
                gallery.publish(status.job_id, owner, name, include_model=model)
                st.rerun()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def leaderboard(entries: list[gallery.Entry]) -> None:
    """The published runs, best held-out test accuracy first."""
    rows = [
        {
            "rank": i,
            "student": e.name,
            "dataset": e.dataset,
            "classes": len(e.class_names),
            "backbone": f"{e.config.get('backbone', '')} ({e.config.get('strategy', '')})",
            "test (held out)": e.accuracies.get("test_accuracy"),
            "test, majority baseline": e.accuracies.get("baseline_test_accuracy"),
            "val, best epoch": e.accuracies.get("best_val_accuracy"),
            "val, majority baseline": e.accuracies.get("baseline_val_accuracy"),
        }
        for i, e in enumerate(entries, 1)
    ]
    percent = ["test (held out)", "test, majority baseline", "val, best epoch", "val, majority baseline"]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(c, format="percent") for c in percent},
        key="gallery_table",
    )


def show_entry(e: gallery.Entry, owner: str) -> None:
    """One published run, read-only: figures, mistakes, the model if shared; Unpublish or Hide where allowed."""
    st.subheader(f"{escape_markdown(e.name)}: {escape_markdown(e.dataset or 'a dataset')}", anchor=False)
    acc = e.accuracies
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Test, held out", _pct(acc.get("test_accuracy")), help=f"{e.counts.get('test', 0)} images")
    m2.metric("Test, majority baseline", _pct(acc.get("baseline_test_accuracy")))
    m3.metric("Validation, best epoch", _pct(acc.get("best_val_accuracy")))
    m4.metric("Validation, majority baseline", _pct(acc.get("baseline_val_accuracy")))
    names = ", ".join(escape_markdown(c) for c in e.class_names)
    st.caption(
        f"{len(e.class_names)} classes ({names}); {e.counts.get('train', 0)} training, {e.counts.get('val', 0)} "
        f"validation and {e.counts.get('test', 0)} test images. {escape_markdown(str(e.config.get('backbone', '')))}"
        f", {escape_markdown(str(e.config.get('strategy', '')))}, {e.config.get('epochs', '?')} epochs."
    )
    c1, c2 = st.columns(2)
    if e.history:
        c1.plotly_chart(
            curves_figure(history_curves(e.history), **HISTORY_LAYOUT), width="stretch", key="gallery_curves"
        )
    c2.plotly_chart(confusion_figure(e.confusion, list(e.class_names)), width="stretch", key="gallery_confusion")
    thumbs = gallery.mistake_thumbnails(e.job_id)
    if e.mistakes and thumbs is not None and len(thumbs) == len(e.mistakes):
        st.markdown("**Most confident mistakes** (validation images)")
        inline_image(
            st,
            list(thumbs),
            width=96,
            caption=[
                f"{escape_markdown(e.class_names[m['true']])} → {escape_markdown(e.class_names[m['pred']])} "
                f"({float(m['confidence']):.0%})"
                for m in e.mistakes
            ],
        )
    if (blob := gallery.model_bytes(e.job_id)) is not None:
        st.download_button(
            "Download this model (model.zip)",
            blob,
            file_name="model.zip",
            mime="application/zip",
            key="gallery_download",
            icon=":material/download:",
            help="Open it on the fine-tuning page (5. Predict) to try it on your own photos.",
        )
    if gallery.is_publisher(e.job_id, owner) and st.button(
        "Unpublish (take my run out)", key="gallery_page_unpublish", icon=":material/public_off:"
    ):
        with user_errors():
            gallery.unpublish(e.job_id, owner)
            st.rerun()
    if teacher_here() and st.button("Hide from the gallery (teacher)", key="gallery_hide", icon=":material/hide:"):
        with user_errors():
            gallery.hide(e.job_id)
            st.rerun()
