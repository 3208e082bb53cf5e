"""AppTests of the 2-D filtering and convolution-arithmetic pages: move the widgets, check what is shown."""

import json
import re

import numpy as np
import pytest

from cnn_demo.images import filters
from cnn_demo.io import samples
from cnn_demo.io.images import to_array
from tests.conftest import app_test, assert_no_exception, shown_errors

FILTERING = "app_pages/images/filtering.py"
ARITHMETIC = "app_pages/images/arithmetic.py"


def assert_shown(shown: str, want: float, digits: int = 6) -> None:
    """``shown`` is ``want`` written to ``digits`` significant digits, give or take one unit in the last digit: the
    page adds the window's products in another order than scipy, so a value within rounding of a halfway point
    may be written either way on another machine."""
    unit = 10.0 ** (np.floor(np.log10(abs(want))) - digits + 1) if want else 10.0 ** (1 - digits)
    assert abs(float(shown) - want) <= unit, (shown, want)


def _text(at) -> str:
    return " ".join(m.value for m in [*at.markdown, *at.caption, *at.subheader])


def _range(at) -> tuple[float, float]:
    caption = next(c.value for c in at.caption if c.value.startswith("Result values range"))
    lo, hi = re.findall(r"from (\S+) to (\S+);", caption)[0]
    return float(lo), float(hi)


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    """The page's default image, as the page sees it."""
    return to_array(samples.load_sample("camera", grayscale=True, max_side=512))


def test_filtering_gaussian_slider_changes_the_result(camera):
    at = app_test(FILTERING)
    assert_no_exception(at)
    assert at.selectbox(key="images_filtering_filter").value == filters.GAUSSIAN
    lo, hi = _range(at)
    ref = filters.gaussian_blur(camera, 2.0)
    assert (lo, hi) == (float(f"{ref.min():.4g}"), float(f"{ref.max():.4g}"))
    assert "ndimage.gaussian_filter(image, sigma=2.0" in at.code[0].value
    at.slider(key="images_filtering_sigma").set_value(8.0).run()
    assert_no_exception(at)
    ref8 = filters.gaussian_blur(camera, 8.0)
    assert _range(at) == (float(f"{ref8.min():.4g}"), float(f"{ref8.max():.4g}"))
    assert "sigma=8.0" in at.code[0].value and "sigma = 8.0" in at.code[1].value


def test_filtering_pixel_inspector_shows_the_output_value(camera):
    at = app_test(FILTERING)
    at.selectbox(key="images_filtering_filter").set_value("Sharpen").run()
    at.slider(key="images_filtering_row").set_value(0).run()
    at.slider(key="images_filtering_col").set_value(37).run()
    assert_no_exception(at)
    expected = filters.convolve2d(camera, filters.presets()["Sharpen"].kernel)[0, 37]
    line = next(m.value for m in at.markdown if m.value.startswith("Output at row 0, column 37"))
    assert f"**{expected:.6g}**" in line
    at.selectbox(key="images_filtering_mode").set_value("constant").run()
    at.number_input(key="images_filtering_cval").set_value(100.0).run()
    assert_no_exception(at)
    expected = filters.convolve2d(camera, filters.presets()["Sharpen"].kernel, "constant", 100.0)[0, 37]
    line = next(m.value for m in at.markdown if m.value.startswith("Output at row 0, column 37"))
    assert f"**{expected:.6g}**" in line
    assert 'mode="constant", cval=100.0' in at.code[0].value


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        ("1 2\n3", "same number of entries"),
        ("1 a 3", "'a' is not a number"),
        ("", "empty"),
        ("\n".join([" ".join(["1"] * 16)] * 16), "largest allowed is 15×15"),
    ],
)
def test_filtering_bad_kernels_show_an_error(kernel, message):
    at = app_test(FILTERING)
    at.selectbox(key="images_filtering_filter").set_value(filters.CUSTOM).run()
    assert_no_exception(at)
    assert not at.error
    at.text_area(key="images_filtering_kernel").set_value(kernel).run()
    assert_no_exception(at)
    assert any(message in e for e in shown_errors(at)), shown_errors(at)


def test_filtering_custom_kernel_and_colour(camera):
    at = app_test(FILTERING)
    at.selectbox(key="images_filtering_filter").set_value(filters.CUSTOM).run()
    at.text_area(key="images_filtering_kernel").set_value("0 0 0\n0 0 2\n0 0 0").run()
    assert_no_exception(at)
    ref = filters.convolve2d(camera, [[0, 0, 0], [0, 0, 2], [0, 0, 0]])
    assert _range(at) == (float(f"{ref.min():.4g}"), float(f"{ref.max():.4g}"))
    at.toggle(key="images_filtering_gray").set_value(False).run()
    assert_no_exception(at)
    assert "for c in range(image.shape[2])" in at.code[0].value
    assert at.selectbox(key="images_filtering_channel").options == ["Red", "Green", "Blue"]


def test_filtering_gradient_magnitude_shows_the_slide_code():
    at = app_test(FILTERING)
    at.selectbox(key="images_filtering_filter").set_value(filters.SOBEL_MAGNITUDE).run()
    assert_no_exception(at)
    assert "ndimage.sobel(image, 0" in at.code[0].value
    assert "magnitude *= 255.0 / np.max(magnitude)" in at.code[0].value
    assert _range(at)[1] == 255


def test_arithmetic_defaults_are_the_lecture_example():
    at = app_test(ARITHMETIC)
    assert_no_exception(at)
    assert at.subheader[0].value == "Output: 5 × 5"
    assert "torch.Size([1, 8, 5, 5])" in at.code[0].value
    assert "195×195" in _text(at)  # AlexNet's receptive field
    assert "Output: 10 × 10" in _text(at)  # transposed defaults 5 → 10


def test_arithmetic_widgets_change_the_output():
    at = app_test(ARITHMETIC)
    at.number_input(key="images_arithmetic_stride").set_value(2).run()
    at.number_input(key="images_arithmetic_padding").set_value(1).run()
    assert_no_exception(at)
    assert at.subheader[0].value == "Output: 4 × 4"
    assert "torch.Size([1, 8, 4, 4])" in at.code[0].value
    at.number_input(key="images_arithmetic_kernel").set_value(15).run()
    assert_no_exception(at)
    assert any("larger than the padded input" in e for e in shown_errors(at))
    at.number_input(key="images_arithmetic_kernel").set_value(3).run()
    at.toggle(key="images_arithmetic_same").set_value(False).run()
    at.number_input(key="images_arithmetic_size_w").set_value(12).run()
    assert at.subheader[0].value == "Output: 4 × 6"
    at.radio(key="images_arithmetic_layer").set_value("nn.MaxPool2d").run()
    at.number_input(key="images_arithmetic_padding_h").set_value(0).run()
    at.number_input(key="images_arithmetic_padding_w").set_value(0).run()
    at.number_input(key="images_arithmetic_kernel_h").set_value(2).run()
    at.number_input(key="images_arithmetic_kernel_w").set_value(2).run()
    assert at.subheader[0].value == "Output: 3 × 6"
    at.checkbox(key="images_arithmetic_ceil").check().run()
    assert_no_exception(at)
    assert at.subheader[0].value == "Output: 4 × 6"
    assert "ceil_mode=True" in at.code[0].value and "torch.Size([1, 3, 4, 6])" in at.code[0].value


def test_arithmetic_ceil_mode_shows_the_rounded_up_value_and_the_window_pytorch_drops():
    at = app_test(ARITHMETIC)
    at.radio(key="images_arithmetic_layer").set_value("nn.MaxPool2d").run()
    at.number_input(key="images_arithmetic_size").set_value(5).run()
    at.number_input(key="images_arithmetic_kernel").set_value(2).run()
    at.number_input(key="images_arithmetic_stride").set_value(2).run()
    at.number_input(key="images_arithmetic_padding").set_value(1).run()
    at.checkbox(key="images_arithmetic_ceil").check().run()
    assert_no_exception(at)
    assert at.subheader[0].value == "Output: 3 × 3"
    latex = [e.value for e in at.latex]
    assert any(r"\lceil 3.5 \rceil = 4" in v and "4 - 1 = 3" in v for v in latex), latex
    assert "torch.Size([1, 3, 3, 3])" in at.code[0].value
    assert "window 4 would start at position (4 − 1)·2 = 6 of the padded input" in _text(at)
    assert "right-hand padding begins (1 + 5 = 6)" in _text(at)


def test_arithmetic_transposed_and_its_errors():
    at = app_test(ARITHMETIC)
    at.number_input(key="images_arithmetic_t_outpad").set_value(0).run()
    assert "Output: 9 × 9" in _text(at)
    at.number_input(key="images_arithmetic_t_stride").set_value(1).run()
    at.number_input(key="images_arithmetic_t_outpad").set_value(1).run()
    assert_no_exception(at)
    assert any("output_padding (1) must be smaller" in e for e in shown_errors(at))


def test_arithmetic_large_input_proves_the_shape_on_meta():
    at = app_test(ARITHMETIC)
    at.number_input(key="images_arithmetic_size").set_value(4096).run()
    at.number_input(key="images_arithmetic_kernel").set_value(64).run()
    assert_no_exception(at)
    assert at.subheader[0].value == "Output: 4033 × 4033"
    assert 'device="meta"' in at.code[0].value and "[1, 8, 4033, 4033]" in at.code[0].value
    assert any("drawn for inputs up to" in i.value for i in at.info)


@pytest.mark.parametrize("kind", [filters.SOBEL_MAGNITUDE, filters.GRADIENT_MAGNITUDE])
def test_filtering_edge_inspector_gives_edge_h_with_the_sign_of_the_code_shown(camera, kind):
    from scipy import ndimage

    at = app_test(FILTERING)
    at.selectbox(key="images_filtering_filter").set_value(kind).run()
    at.slider(key="images_filtering_row").set_value(100).run()
    at.slider(key="images_filtering_col").set_value(200).run()
    assert_no_exception(at)
    img = camera.astype(np.float64)
    if kind == filters.SOBEL_MAGNITUDE:
        edge_h = ndimage.sobel(img, 0)[100, 200]  # the lecture's code, shown above the image
        total = ndimage.convolve(img, filters.SOBEL_H)[100, 200]  # what the inspector adds up
    else:
        edge_h = total = ndimage.convolve(img, filters.K_H)[100, 200]
    assert edge_h != 0
    line = next(m.value for m in at.markdown if m.value.startswith("Output at row 100, column 200"))
    assert f"**{total:.6g}**" in line and f"edge_h holds {edge_h:.6g} there" in line
    caption = " ".join(c.value for c in at.caption)
    if kind == filters.SOBEL_MAGNITUDE:
        assert total == -edge_h and "**correlates**" in caption and f"Σ = {total:.6g}" in caption
    else:
        slide = 0.5 * (img[101, 200] - img[99, 200])  # ½[I(y+1) − I(y−1)]
        assert f"a ½: {slide:.6g} here, −½ × edge_h" in caption


def test_filtering_sigma_survives_switching_to_another_filter_and_back(camera):
    at = app_test(FILTERING)
    at.slider(key="images_filtering_sigma").set_value(5.0).run()
    at.selectbox(key="images_filtering_filter").set_value("Sharpen").run()
    assert_no_exception(at)
    at.selectbox(key="images_filtering_filter").set_value(filters.GAUSSIAN).run()
    assert_no_exception(at)
    assert at.slider(key="images_filtering_sigma").value == 5.0
    assert "ndimage.gaussian_filter(image, sigma=5.0" in at.code[0].value
    assert not at.warning  # no "widget created with a default value and set via Session State" warning


def _linked_view(at) -> dict:
    """The data the page gave its linked view (a custom component: AppTest sees its JSON, not its drawing)."""
    import json

    (view,) = [c for c in at.get("bidi_component") if c.proto.component_name == "cnn_demo_linked_conv"]
    return json.loads(view.proto.json)


def _linked_title(at) -> str:
    return _linked_view(at)["title"]


def test_filtering_linked_view_follows_the_inspector_and_the_kernel_grid_shows_the_kernel(camera):
    at = app_test(FILTERING)
    assert_no_exception(at)
    blur = filters.gaussian_blur(camera, 2.0)  # a 17×17 kernel still gets its linked view
    head, value = _linked_title(at).rsplit(" = ", 1)
    assert head == "Output row 256, col 256 = Σ window × kernel"
    assert_shown(value, blur[256, 256])
    at.selectbox(key="images_filtering_filter").set_value("Sharpen").run()
    at.slider(key="images_filtering_row").set_value(0).run()
    at.slider(key="images_filtering_col").set_value(37).run()
    want = filters.convolve2d(camera, filters.presets()["Sharpen"].kernel)
    assert _linked_title(at) == f"Output row 0, col 37 = Σ window × kernel = {want[0, 37]:.6g}"
    view = _linked_view(at)
    i, j = view["selected"]
    assert (view["outRows"][i], view["outCols"][j]) == (0, 37)
    assert view["traces"][i * 7 + j]["lines"][-1] == f"= {want[0, 37]:.6g}"
    assert view["traces"][i * 7 + j]["rows"] == [i, i + 1, i + 2]
    assert all(t.endswith("*") for t in view["inputs"][0]["text"][:9])  # the row above the image: border mode
    assert any("Hover an output cell" in c.value for c in at.caption)
    at.selectbox(key="images_filtering_filter").set_value(filters.CUSTOM).run()
    assert_no_exception(at)
    grid = at.dataframe[0].value
    np.testing.assert_allclose(grid.to_numpy(), filters.parse_kernel(at.text_area(key="images_filtering_kernel").value))
    at.text_area(key="images_filtering_kernel").set_value("1 2\n3 4").run()
    assert at.dataframe[0].value.to_numpy().tolist() == [[1, 2], [3, 4]]
    at.text_area(key="images_filtering_kernel").set_value("1 2\n3").run()
    assert not at.dataframe  # no grid for a kernel that does not parse; the page shows the error
    assert any("same number of entries" in e for e in shown_errors(at))


def test_arithmetic_transposed_convolution_step_by_step():
    at = app_test(ARITHMETIC)
    assert_no_exception(at)
    assert "Transposed convolution, step by step" in [s.value for s in at.subheader]
    ok = [s.value for s in at.success if "nn.ConvTranspose2d" in s.value]
    assert ok == [
        "`nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1, dilation=1, bias=False)` with this "
        "kernel gives exactly this 10×10 output."
    ]
    at.number_input(key="images_arithmetic_t_size").set_value(7).run()
    assert_no_exception(at)
    assert any("inputs up to 6×6" in i.value for i in at.info)
    at.number_input(key="images_arithmetic_t_size").set_value(3).run()
    at.number_input(key="images_arithmetic_t_outpad").set_value(3).run()  # ≥ stride: PyTorch refuses
    assert_no_exception(at)
    assert any("output_padding (3) must be smaller" in e for e in shown_errors(at))
    assert "Transposed convolution, step by step" not in [s.value for s in at.subheader]


def _chart_titles(at) -> list[str]:
    import json

    return [json.loads(c.proto.spec).get("layout", {}).get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_filtering_sections_are_lazy_tabs_and_each_one_draws_when_opened(camera):
    """Only the open section is computed and drawn: a page-wide widget redraws a few charts, not twenty."""
    at = app_test(FILTERING)
    assert_no_exception(at)
    assert [t.label for t in at.tabs][-4:] == [
        "Pixel inspector",
        "Border modes",
        "Low-pass and high-pass",
        "Frequencies",
    ]
    labels = [s.label for s in at.slider]
    assert "Row" in labels and "Border width shown" not in labels and "σ of the blur" not in labels
    assert not any("log(1 + |F|)" in t for t in _chart_titles(at))
    assert not [c for c in at.get("plotly_chart") if "images_filtering_borders" in c.proto.id]  # closed tab

    at.session_state["images_filtering_section"] = "Border modes"
    at.run()
    assert_no_exception(at)
    labels = [s.label for s in at.slider]
    assert "Border width shown" in labels and "Row" not in labels
    (borders,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "images_filtering_borders" in c.proto.id]
    titles = [a["text"] for a in borders["layout"]["annotations"]]
    assert titles == ["reflect", "constant", "nearest", "mirror", "wrap"]  # one figure of all modes, not ten
    assert [t["type"] for t in borders["data"]] == ["image"] * 10

    at.session_state["images_filtering_section"] = "Low-pass and high-pass"
    at.run()
    assert_no_exception(at)
    at.slider(key="images_filtering_lp_sigma").set_value(5.0).run()
    assert "Low-pass: blur" in _chart_titles(at) and "Border width shown" not in [s.label for s in at.slider]

    at.session_state["images_filtering_section"] = "Frequencies"
    at.run()
    assert_no_exception(at)
    titles = _chart_titles(at)
    assert "Image: log(1 + |F|)" in titles and "Kernel: gain |H|" in titles and "Result: log(1 + |F|)" in titles


def test_filtering_takes_the_lectures_7x7_image_with_the_default_gaussian():
    """The lecture's 7×7 image: the default σ's 17×17 kernel reaches past it; the border mode fills in, as SciPy
    does, so the page filters and inspects it instead of refusing the kernel (it did, in the inspector tab)."""
    import io

    from PIL import Image
    from scipy import ndimage

    pixels = (np.arange(49).reshape(7, 7) * 5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    at = app_test(FILTERING)
    at.radio(key="images_filtering_source").set_value("Upload").run()
    at.file_uploader(key="images_filtering_upload").set_value(("lecture.png", buf.getvalue(), "image/png")).run()
    assert_no_exception(at)
    assert not shown_errors(at), shown_errors(at)
    sigma = at.slider(key="images_filtering_sigma").value
    assert filters.gaussian_kernel2d(sigma).shape[0] > 7
    row, col = at.slider(key="images_filtering_row").value, at.slider(key="images_filtering_col").value
    want = ndimage.gaussian_filter(pixels.astype(float), sigma)[row, col]
    line = next(m.value for m in at.markdown if m.value.startswith(f"Output at row {row}, column {col}"))
    assert_shown(re.search(r"\*\*([-0-9.e+]+)\*\*", line).group(1), want)
