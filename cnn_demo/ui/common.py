"""Shared page furniture: the sidebar, user-error display and safe text output."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypedDict

import streamlit as st

from cnn_demo.errors import InputError


#: Keyword arguments for a widget that may be hidden for a run and shown again (a conditional control, or any
#: widget below an ``st.stop()``: an image picker waiting for an upload, an input error). Streamlit then keeps its
#: value for the page and tells the browser on the way back; without it the browser redraws the widget at its
#: default while Python still reads the old value (σ showed 0.50 while the result used 3.0).
class Keep(TypedDict):
    """``persist_state`` for :data:`KEEP`."""

    persist_state: Literal["page"]


KEEP: Keep = {"persist_state": "page"}


def fit_kept(
    key: str, *, lo: float | None = None, hi: float | None = None, options: Sequence[Any] | None = None
) -> None:
    """Make the value kept for widget ``key`` (see :data:`KEEP`) fit the widget about to be drawn: clamp it to
    ``lo``..``hi``, or forget it when it is not among ``options``. A kept row 500 would otherwise stop the page
    when the next picture has 300 rows. Call just before the widget."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if options is not None and value not in options:
        del st.session_state[key]
    elif lo is not None and hi is not None and not lo <= value <= hi:
        st.session_state[key] = type(value)(min(max(value, lo), hi))


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def short_count(n: float) -> str:
    """A count short enough for a metric in a third of the page: ``15,733,760`` up to ten digits, then
    ``6.76 × 10¹⁵`` (a metric cuts a longer value off with an ellipsis)."""
    if abs(n) < 10_000_000_000:
        return f"{n:,.0f}"
    mantissa, exponent = f"{n:.2e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
#: The colon opening a ``:name:`` or ``:material/name:`` shortcode. Streamlit turns those into emoji and icons after
#: markdown has removed the backslash escapes, so an escaped colon still makes an icon: a word joiner (U+2060,
#: invisible) after it breaks the pattern instead.
_SHORTCODE = re.compile(r":(?=[\w+\-/]+:)")
WORD_JOINER = "\u2060"


def escape_markdown(text: str) -> str:
    """Make user text (file names, class names) safe to show inside markdown: no links, HTML, formatting, emoji or
    icons; it reads as typed."""
    return _MD_SPECIAL.sub(r"\\\1", _SHORTCODE.sub(":" + WORD_JOINER, str(text)))


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show an :class:`InputError` raised in the block as ``st.error`` instead of a traceback.

    Messages are plain text and often quote what the user typed or uploaded (file and class names), so they
    are escaped: a name such as ``![x](http://…)`` shows as those characters, never as a link or an image.
    """
    try:
        yield
    except InputError as exc:
        st.error(escape_markdown(str(exc)), icon=":material/error:")


#: What the server keeps of an upload, and for how long (``{hours}``: ``CNN_DEMO_ARTIFACT_HOURS``).
RETENTION_NOTES = {
    "photo": "Privacy: your photo is used in the server's memory for this page only; it is never saved to its disk.",
    "dataset": "Privacy: the server keeps the images of your upload for {hours:g} hours after a page last used them, "
    "and a job you train on them for {hours:g} hours after it ends; your teacher sees your jobs. *Delete my data*, "
    "under any job panel, removes them now.",
}


def retention_note(kind: str, container=st) -> None:
    """Say under an uploader what the server keeps of the upload and for how long (``kind``: photo or dataset)."""
    from cnn_demo.settings import get_settings

    container.caption(RETENTION_NOTES[kind].format(hours=get_settings().artifact_hours), help=None)


def sidebar() -> None:
    """The sidebar every page shares."""
    from cnn_demo.device import describe_device

    with st.sidebar:
        st.caption(f"Running on {describe_device()}")
        st.caption("Follows the lecture *Convolutional Neural Networks* (Chun-Hao Yang).")


def index_slider(container, label: str, count: int, default: int | None = None, *, key: str) -> int:
    """A slider over 0..count-1 that degrades gracefully when there is only one choice (tiny or strip images)."""
    if count <= 1:
        container.caption(f"{label}: 0 (only one)")
        return 0
    value = count // 2 if default is None else min(max(default, 0), count - 1)
    return int(container.slider(label, 0, count - 1, value, key=key))


def _data_url(image) -> str:
    """One image as a ``data:`` URL: PNG when small or exact colours matter (masks, swatches), else JPEG."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    if isinstance(image, str):
        return image
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    if pil.mode in ("RGB", "L") and pil.width * pil.height > 256 * 256:
        pil.save(buf, format="JPEG", quality=92)
        mime = "jpeg"
    else:
        pil.save(buf, format="PNG")
        mime = "png"
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def inline_image(container, image, **kwargs) -> None:
    """``st.image`` with the pixels inside the page message instead of a media file.

    Streamlit deletes a run's media files when the next run ends; a slider moved quickly reran the page before the
    browser had fetched the previous picture, which then failed to load (a broken image and a console error). An
    inline picture cannot go missing. ``image`` is one image or a list (array, PIL image or URL).
    """
    payload: str | list[str]
    if isinstance(image, (list, tuple)):
        payload = [_data_url(im) for im in image]
    else:
        payload = _data_url(image)
    container.image(payload, **kwargs)
