"""Home: what the app covers, following the lecture's outline, with a card per page."""

import streamlit as st

from cnn_demo.ui.catalog import SECTIONS, pages_in

OUTLINE = {
    "Convolution": ("Signals", "Images"),
    "Basic CNN architecture": ("Building blocks", "Models"),
    "Applications": ("Applications",),
    "For the class": ("Class",),
}

st.title("Convolutional neural networks, hands on")
st.markdown(
    "This app follows the lecture **Convolutional Neural Networks**: every formula, example and code cell "
    "of the slides can be reproduced here, on the lecture's inputs or on your own images. Real PyTorch "
    "models run on what you upload, and every step is shown."
)

for part, sections in OUTLINE.items():
    specs = [p for s in sections if s in SECTIONS for p in pages_in(s)]
    if not specs:
        continue
    st.header(part)
    cols = st.columns(3)
    for i, spec in enumerate(specs):
        with cols[i % 3].container(border=True):
            st.page_link(spec.path, label=spec.title, icon=spec.icon)
            st.caption(spec.summary)
            if spec.lecture:
                st.caption(f"Lecture: {spec.lecture}")
