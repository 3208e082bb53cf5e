"""Datasets for training: check a classification or segmentation dataset before a model ever sees it."""

import streamlit as st

from cnn_demo.data.datasets import DEFAULT_LIMITS
from cnn_demo.ui.datasets import dataset_input, example_zip_bytes, segmentation_input, split_input

st.title("Datasets for training")
st.markdown(
    "A CNN learns only what its data shows it. Before training, check what you give it: how many images each "
    "class has, which files could not be used and why, duplicates, and how the images are split into a "
    "training part (the model learns from it) and a validation part (kept aside to measure how well it "
    "generalises)."
)
limits = DEFAULT_LIMITS
st.caption(
    f"Limits on this shared server: a zip of at most {limits.max_zip_bytes >> 20} MB "
    f"({limits.max_uncompressed_bytes >> 20} MB unpacked), {limits.max_images:,} images, "
    f"{limits.min_classes}–{limits.max_classes} classes, at least {limits.min_images_per_class} images per class. "
    f"Images are shrunk to at most {limits.max_side} pixels on their longer side."
)

classify, segment = st.tabs(["Classification: one folder per class", "Segmentation: images and masks"])
with classify:
    st.download_button(
        "Download an example zip (texture patches, train/ and val/ folders)",
        data=example_zip_bytes(),
        file_name="textures_example.zip",
        mime="application/zip",
        key="datasets_example",
        icon=":material/download:",
    )
    dataset = dataset_input("datasets", share=True)
    if dataset is not None:
        st.subheader("Training and validation split")
        st.markdown(
            "A *stratified* split keeps each class's share the same in both parts, so a small class is not "
            "left out of validation by chance. The seed makes the split reproducible."
        )
        split_input("datasets", dataset, share=True)
        st.success(
            "This dataset and its split are what *Fine-tune on your images* opens with during this visit.",
            icon=":material/arrow_forward:",
        )
        st.page_link("app_pages/models/finetune.py", label="Fine-tune on it", icon=":material/model_training:")
with segment:
    st.markdown(
        "Semantic segmentation (for example a U-Net) learns from pairs: an image and a mask that gives the class "
        "of every pixel. The value 255 marks pixels to ignore, such as the uncertain border around objects."
    )
    segmentation_input("datasets_seg")
