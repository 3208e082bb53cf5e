"""The shared image picker: upload an image or choose a bundled sample. Every image page uses it.

A photo uploaded once is offered on every image page for the rest of the visit (*Your photos*): its bytes are kept
in the session (:func:`remember_photo`), at most :data:`MAX_PHOTOS` of them and :data:`MAX_PHOTOS_BYTES` in all, the
oldest dropped first; nothing of them is written to the server's disk.
"""

from __future__ import annotations

import hashlib
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


#: Session entry: the photos this visit uploaded, oldest first, as ``(sha256, name, bytes)``.
PHOTOS_KEY = "picker_photos"
MAX_PHOTOS = 6
#: A photo larger than this is used on its page but not kept for the others.
MAX_PHOTO_BYTES = 8 << 20
MAX_PHOTOS_BYTES = 24 << 20
YOUR_PHOTOS = "Your photos"


def remember_photo(name: str, data: bytes) -> bool:
    """Keep an uploaded photo for the other pages of this visit (most recent last); ``False`` if too large."""
    if len(data) > MAX_PHOTO_BYTES:
        return False
    digest = hashlib.sha256(data).hexdigest()
    photos = [p for p in st.session_state.get(PHOTOS_KEY, []) if p[0] != digest]
    photos.append((digest, str(name), bytes(data)))
    while len(photos) > MAX_PHOTOS or sum(len(p[2]) for p in photos) > MAX_PHOTOS_BYTES:
        photos.pop(0)
    st.session_state[PHOTOS_KEY] = photos
    return True


def your_photos() -> list[tuple[str, str, bytes]]:
    """The photos kept by :func:`remember_photo`, newest first."""
    return list(reversed(st.session_state.get(PHOTOS_KEY, [])))


def forget_photos() -> None:
    """Drop every kept photo (a button on the picker)."""
    st.session_state.pop(PHOTOS_KEY, None)


@st.cache_data(max_entries=64, show_spinner=False)
def _decode(data: bytes, grayscale: bool, max_side: int | None) -> Image.Image:
    return load_image(data, max_pixels=DEFAULT_MAX_PIXELS, max_side=max_side, grayscale=grayscale)


@st.cache_data(max_entries=64, show_spinner=False)
def sample_image(name: str, grayscale: bool, max_side: int | None) -> Image.Image:
    """A bundled sample image, cached for every session (the warm-up fills the very entries the picker reads)."""
    return samples.load_sample(name, grayscale=grayscale, max_side=max_side)


@st.cache_data(max_entries=16, show_spinner=False)
def bundled_image(path: str, grayscale: bool, max_side: int | None) -> Image.Image:
    """A photo shipped with the app (``cnn_demo/data/bundled``), cached for every session."""
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
    mine = your_photos()
    options = ["Sample", YOUR_PHOTOS, "Upload"] if mine else ["Sample", "Upload"]
    source = st.radio(
        label,
        options,
        index=1 if mine else 0,
        horizontal=True,
        key=f"{key}_source",
        help="Use a bundled photo, one you uploaded earlier in this visit, or a new image of your own.",
    )
    if source == YOUR_PHOTOS and mine:
        return _your_photo(key, mine, grayscale, max_side)
    if source == "Upload":
        return _uploaded_image(key, grayscale, max_side)
    return _sample_choice(key, default, extra, grayscale, max_side)


def _uploaded_image(key: str, grayscale: bool, max_side: int | None) -> Image.Image | None:
    """The picker's *Upload*: the decoded upload (kept under *Your photos* when small enough), or ``None``."""
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
        kept = remember_photo(upload.name, upload.getvalue())
        st.caption(
            f"Uploaded {escape_markdown(upload.name)}: {width}×{height} pixels"
            + (f", shrunk to {img.width}×{img.height} for this page." if shrunk else ".")
            + (
                " Offered under *Your photos* on every image page until you close this tab (kept in this "
                "visit's memory only, never on the server's disk)."
                if kept
                else f" Larger than {MAX_PHOTO_BYTES >> 20} MB, so not kept for the other pages."
            )
        )
        return img
    return None


def _sample_choice(
    key: str, default: str, extra: dict[str, Path], grayscale: bool, max_side: int | None
) -> Image.Image | None:
    """The picker's *Sample*: the ``extra`` photos first, then the bundled samples."""
    names = [*extra, *samples.sample_names()]
    titles = {s.name: s.title for s in samples.SAMPLES}
    index = names.index(default) if default in names else 0
    name = st.selectbox(
        "Sample image", names, index=index, key=f"{key}_sample", format_func=lambda n: titles.get(n, n), **KEEP
    )
    with user_errors():
        if name in extra:
            img = bundled_image(str(extra[name]), grayscale, max_side)
            st.caption(
                f"A COCO photo that ships with the app (credits in its sources). Shown at {img.width}×{img.height}."
            )
            return img
        img = sample_image(name, grayscale, max_side)
        st.caption(f"{samples.get_sample(name).description} Shown at {img.width}×{img.height}.")
        if name == "camera":
            st.caption(ASCENT_NOTE)
        return img
    return None


def _your_photo(
    key: str, mine: list[tuple[str, str, bytes]], grayscale: bool, max_side: int | None
) -> Image.Image | None:
    """The picker's *Your photos*: one of the photos uploaded earlier in this visit, decoded for this page."""
    names = {digest: name for digest, name, _ in mine}
    digest = st.selectbox("Your photo", list(names), key=f"{key}_mine", format_func=lambda d: names.get(d, "a photo"))
    data = next(d for h, _, d in mine if h == digest)
    st.button("Forget my photos", key=f"{key}_forget", on_click=forget_photos, icon=":material/delete:")
    with user_errors():
        img = _decode(data, grayscale, max_side)
        width, height = original_size(img)
        st.caption(
            f"{escape_markdown(names[digest])}, uploaded earlier in this visit: {width}×{height} pixels"
            + (f", shown at {img.width}×{img.height}." if (width, height) != img.size else ".")
        )
        return img
    return None


def choose_your_photos(key: str, label: str = "Your photos") -> list[tuple[str, bytes]]:
    """*Your photos* for a page that takes several images at once (Fine-tune's Predict): the photos uploaded earlier
    in this visit, every one chosen at first (newest first), as ``(name, bytes)``; with the picker's forget button."""
    mine = your_photos()
    names = {digest: name for digest, name, _ in mine}
    chosen = st.multiselect(
        label, list(names), default=list(names), key=f"{key}_mine", format_func=lambda d: names.get(d, "a photo")
    )
    st.button("Forget my photos", key=f"{key}_forget", on_click=forget_photos, icon=":material/delete:")
    return [(name, data) for digest, name, data in mine if digest in chosen]


def remember_photos(files: list[tuple[str, bytes]]) -> None:
    """Keep uploaded photos for the other image pages (:func:`remember_photo`) and say so under the uploader."""
    kept = [remember_photo(name, data) for name, data in files]
    if any(kept):
        st.caption(
            "Offered under *Your photos* on every image page until you close this tab (kept in this visit's "
            "memory only, never on the server's disk)."
            + ("" if all(kept) else f" Photos larger than {MAX_PHOTO_BYTES >> 20} MB are not kept.")
        )
