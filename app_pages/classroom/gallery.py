"""Class gallery: the fine-tuning runs students published, read-only, as a leaderboard by held-out accuracy."""

import streamlit as st

from cnn_demo.jobs import gallery
from cnn_demo.ui.gallery import leaderboard, show_entry
from cnn_demo.ui.jobs import current_owner

st.title("Class gallery")
st.markdown(
    "Fine-tuning runs your classmates published, best first by **held-out test accuracy**: images no epoch choice "
    "ever looked at, so the fairest figure to compare. Always put it beside its *majority baseline* (answering the "
    "most common class every time): 90 % on a dataset where that scores 88 % is little. Different datasets are "
    "not the same exam, so compare runs on the same data first."
)
owner = current_owner()
entries = gallery.published()
if not entries:
    st.info(
        "Nothing published yet. Train a model on *Fine-tune on your images* and press *Publish to the class gallery* "
        "under its results.",
        icon=":material/info:",
    )
    st.page_link("app_pages/models/finetune.py", label="Fine-tune on your images", icon=":material/model_training:")
else:
    leaderboard(entries)
    titles = {e.job_id: f"{i}. {e.name} ({e.dataset or 'dataset'})" for i, e in enumerate(entries, 1)}
    chosen = st.selectbox("Look at a run", list(titles), key="gallery_pick", format_func=titles.get)
    show_entry(next(e for e in entries if e.job_id == chosen), owner)
