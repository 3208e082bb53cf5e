"""A widget hidden for a run and drawn again shows the value the page uses.

Below an ``st.stop()`` (an image picker waiting for an upload, an input error) the browser drops its widgets, and
when they come back it draws each at its default unless Python says otherwise (``set_value`` in the widget's
message). Python, meanwhile, kept the old value: 2-D filtering showed σ = 0.50 on the slider while the result,
the 25×25 kernel and the code used σ = 3.0. These tests read what a browser mounting the widget afresh draws,
from the message itself, and compare it with the value the page used.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.conftest import app_test, assert_no_exception

KINDS = ("slider", "select_slider", "selectbox", "radio", "number_input", "checkbox", "toggle", "text_area")


def _widgets(at) -> dict[str, object]:
    return {w.key: w for kind in KINDS for w in getattr(at, kind) if w.key}


def drawn(w) -> object:
    """The value a browser shows for ``w`` when it mounts it afresh: Python's value only when the message says so."""
    p = w.proto
    if p.set_value:
        return used(w)
    if w.type == "slider":
        values = [type(v)(d) for v, d in zip(np.atleast_1d(w.value).tolist(), p.default, strict=False)]
        return values[0] if len(values) == 1 else tuple(values)
    if w.type in ("selectbox", "radio"):
        return p.default if p.HasField("default") else None
    if w.type == "select_slider":
        return w.options[p.default[0]]
    return p.default


def used(w) -> object:
    """What the page used, in the form :func:`drawn` gives it."""
    if w.type in ("selectbox", "radio"):
        return w.index
    if w.type == "select_slider":
        return w.options[w.options.index(str(w.value))]
    return w.value


def assert_drawn_as_used(at, hidden: set[str]) -> None:
    """Every widget of ``hidden`` (not drawn in the previous run) is drawn with the value the page used."""
    widgets = _widgets(at)
    wrong = {k: (used(widgets[k]), drawn(widgets[k])) for k in hidden & widgets.keys()}
    wrong = {k: v for k, v in wrong.items() if v[0] != v[1]}
    assert not wrong, f"the browser would draw these at other values than the page uses (used, drawn): {wrong}"


def png(h: int, w: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _upload(at, prefix: str, data: bytes) -> set[str]:
    """Switch ``prefix``'s picker to Upload (the page stops), then upload ``data``; returns the widgets hidden."""
    at.radio(key=f"{prefix}_source").set_value("Upload").run()
    assert_no_exception(at)
    shown_while_waiting = set(_widgets(at))
    at.file_uploader(key=f"{prefix}_upload").set_value(("photo.png", data, "image/png")).run()
    assert_no_exception(at)
    return set(_widgets(at)) - shown_while_waiting


def test_filtering_sigma_and_every_control_survive_switching_to_upload():
    at = app_test("app_pages/images/filtering.py")
    at.selectbox(key="images_filtering_sample").set_value("astronaut").run()
    at.slider(key="images_filtering_sigma").set_value(3.0).run()
    at.selectbox(key="images_filtering_mode").set_value("wrap").run()
    at.selectbox(key="images_filtering_display").set_value("abs").run()
    at.slider(key="images_filtering_row").set_value(500).run()
    assert_no_exception(at)
    hidden = _upload(at, "images_filtering", png(60, 80))
    assert {"images_filtering_sigma", "images_filtering_mode", "images_filtering_row"} <= hidden
    assert_drawn_as_used(at, hidden)
    assert at.slider(key="images_filtering_sigma").value == 3.0  # kept, and shown
    assert "sigma=3.0" in at.code[0].value and 'mode="wrap"' in at.code[0].value
    assert at.slider(key="images_filtering_row").value == 59  # row 500 does not exist in 60 rows: the last one
    # Back to the samples: the sample chosen before is the one drawn and used.
    at.radio(key="images_filtering_source").set_value("Sample").run()
    assert_drawn_as_used(at, {"images_filtering_sample"})
    assert at.selectbox(key="images_filtering_sample").value == "astronaut"


def test_filtering_sigma_survives_another_filter_and_is_drawn_on_the_way_back():
    at = app_test("app_pages/images/filtering.py")
    at.slider(key="images_filtering_sigma").set_value(5.0).run()
    at.selectbox(key="images_filtering_filter").set_value("Sharpen").run()
    at.selectbox(key="images_filtering_filter").set_value("Gaussian blur").run()
    assert_no_exception(at)
    assert_drawn_as_used(at, {"images_filtering_sigma"})
    assert at.slider(key="images_filtering_sigma").value == 5.0


def test_pixels_controls_survive_an_upload_and_fit_a_smaller_picture():
    at = app_test("app_pages/images/pixels.py")
    at.slider(key="pixels_size").set_value(12).run()
    at.selectbox(key="pixels_channel").set_value("Blue").run()
    at.slider(key="pixels_row").set_value(500).run()
    assert_no_exception(at)
    hidden = _upload(at, "pixels", png(40, 50))
    assert {"pixels_size", "pixels_channel", "pixels_row"} <= hidden
    assert_drawn_as_used(at, hidden)
    assert (at.slider(key="pixels_size").value, at.selectbox(key="pixels_channel").value) == (12, "Blue")
    assert at.slider(key="pixels_row").value == 39


def test_convolution_controls_survive_a_typing_error():
    """Also across the page's lazy tabs: a control in a closed tab is not drawn, and shows its value when opened."""
    at = app_test("app_pages/signals/convolution.py")

    def open_section(label: str) -> None:
        at.session_state["signals_convolution_section"] = label
        at.run()

    at.slider(key="signals_convolution_t").set_value(4).run()
    open_section("Output length")
    at.radio(key="signals_convolution_mode").set_value("valid").run()
    open_section("Convolve again")
    at.toggle(key="signals_convolution_again").set_value(False).run()
    at.text_input(key="signals_convolution_f").set_value("1, 2, oops").run()  # stops the page below the inputs
    assert at.error and not at.toggle
    at.text_input(key="signals_convolution_f").set_value("4, 3, 2, 1").run()
    assert_no_exception(at)
    assert [w.key for w in at.toggle] == ["signals_convolution_again"]
    assert_drawn_as_used(at, {"signals_convolution_again"})
    assert at.toggle(key="signals_convolution_again").value is False
    open_section("Output length")
    assert [w.key for w in at.radio] == ["signals_convolution_mode"]
    assert_drawn_as_used(at, {"signals_convolution_mode"})
    assert at.radio(key="signals_convolution_mode").value == "valid"
    open_section("Step through t")
    assert [w.key for w in at.slider] == ["signals_convolution_t"]
    assert_drawn_as_used(at, {"signals_convolution_t"})
    assert at.slider(key="signals_convolution_t").value == 4
