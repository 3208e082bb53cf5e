"""The shared image picker: upload an image or choose a bundled sample. Every image page uses it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import streamlit as st
from PIL import Image

from cnn_demo.io import samples
from cnn_demo.io.images import DEFAULT_MAX_PIXELS, UPLOAD_EXTENSIONS, load_image, original_size
from cnn_demo.ui.common import KEEP, escape_markdown, retention_note, user_errors

ASCENT_NOTE = (
    "The lecture's code uses `scipy.datasets.ascent()`, which downloads its image at run time and so "
    "does not work on an offline server; the app uses scikit-image's `camera()` photo as its default "
    "grayscale image instead."
)


@st.cache_data(max_entries=64, show_spinner=False)
def _decode(data: bytes, grayscale: bool, max_side: int | None) -> Image.Image:
    return load_image(data, max_pixels=DEFAULT_MAX_PIXELS, max_side=max_side, grayscale=grayscale)


@st.cache_data(max_entries=64, show_spinner=False)
def _sample(name: str, grayscale: bool, max_side: int | None) -> Image.Image:
    return samples.load_sample(name, grayscale=grayscale, max_side=max_side)


@st.cache_data(max_entries=16, show_spinner=False)
def _bundled(path: str, grayscale: bool, max_side: int | None) -> Image.Image:
    return load_image(Path(path).read_bytes(), grayscale=grayscale, max_side=max_side)


def image_picker(
    key: str,
    *,
    default: str = samples.DEFAULT_SAMPLE,
    grayscale: bool = False,
    max_side: int | None = None,
    label: str = "Image",
    extra: Mapping[str, Path] | None = None,
) -> Image.Image | None:
    """Let the user upload an image or choose a sample; return it decoded, or ``None`` after showing why not.

    ``key`` keeps the widgets of several pickers apart; ``max_side`` downscales large uploads so
    the page stays responsive. ``extra`` offers more samples, title → a photo shipped with the app
    (``cnn_demo/data/bundled``), listed first.
    """
    extra = dict(extra or {})
    names = [*extra, *samples.sample_names()]
    titles = {s.name: s.title for s in samples.SAMPLES}
    source = st.radio(
        label, ["Sample", "Upload"], horizontal=True, key=f"{key}_source", help="Use a bundled photo or your own image."
    )
    if source == "Upload":
        upload = st.file_uploader(
            "Upload an image", type=list(UPLOAD_EXTENSIONS), key=f"{key}_upload", accept_multiple_files=False
        )
        retention_note("photo")
        if upload is None:
            st.info("Upload a PNG, JPEG, WebP, BMP, GIF or TIFF image, or switch to a sample.")
            return None
        with user_errors():
            img = _decode(upload.getvalue(), grayscale, max_side)
            width, height = original_size(img)
            shrunk = (width, height) != img.size
            st.caption(
                f"Uploaded {escape_markdown(upload.name)}: {width}×{height} pixels"
                + (f", shrunk to {img.width}×{img.height} for this page." if shrunk else ".")
            )
            return img
        return None

    index = names.index(default) if default in names else 0
    name = st.selectbox(
        "Sample image", names, index=index, key=f"{key}_sample", format_func=lambda n: titles.get(n, n), **KEEP
    )
    with user_errors():
        if name in extra:
            img = _bundled(str(extra[name]), grayscale, max_side)
            st.caption(
                f"A COCO photo that ships with the app (credits in its sources). Shown at {img.width}×{img.height}."
            )
            return img
        img = _sample(name, grayscale, max_side)
        st.caption(f"{samples.get_sample(name).description} Shown at {img.width}×{img.height}.")
        if name == "camera":
            st.caption(ASCENT_NOTE)
        return img
    return None
