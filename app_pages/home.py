"""Home: the app's sections as in the sidebar, a picture and a line for every page."""

import streamlit as st

from cnn_demo.ui.catalog import SECTIONS, pages_in
from cnn_demo.ui.common import inline_image
from cnn_demo.ui.thumbnails import cached_page_pictures

#: The part of the lecture each section follows.
LECTURE_PART = {
    "Signals": "the lecture's *Convolution* part, in one dimension",
    "Images": "the lecture's *Convolution* part, on pictures",
    "Building blocks": "the lecture's *Basic CNN architecture*: layers one at a time",
    "Models": "the lecture's *Basic CNN architecture*: whole networks, trained on your pictures",
    "Applications": "the lecture's *Applications*: localization, detection, segmentation",
    "Class": "the class itself: the teacher's view of every job, and runs students share",
}
COLUMNS = 3

st.title("Convolutional neural networks, hands on")
st.markdown(
    "This app follows the lecture **Convolutional Neural Networks**: every formula, example and code cell "
    "of the slides can be reproduced here, on the lecture's inputs or on your own images. Real PyTorch "
    "models run on what you upload, and every step is shown. The sections are the sidebar's, in its order."
)

pictures = cached_page_pictures()
for section in SECTIONS:
    specs = pages_in(section)
    if not specs:
        continue
    st.header(section)
    if section in LECTURE_PART:
        st.caption(f"Follows {LECTURE_PART[section]}.")
    for start in range(0, len(specs), COLUMNS):  # row by row: cards of a row line up, a narrow screen keeps the order
        for col, spec in zip(st.columns(COLUMNS), specs[start : start + COLUMNS], strict=False):
            with col.container(border=True, key=f"home_card_{spec.url_path}"):
                if spec.url_path in pictures:
                    inline_image(st, pictures[spec.url_path], width="stretch")
                st.page_link(spec.path, label=spec.title, icon=spec.icon)
                st.caption(spec.summary)
                if spec.lecture:
                    st.caption(f"Lecture: {spec.lecture}")
