"""cnn_demo.images.filters against scipy.ndimage, torch conv2d and the lecture's code, on random images and kernels."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from cnn_demo.errors import InputError
from cnn_demo.images import filters

MODES = list(filters.MODES)


def _cases(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = rng.integers(6, 24, size=2)
        kh, kw = rng.integers(1, min(h, w, 8) + 1, size=2)
        yield (
            rng.uniform(0, 255, (h, w)),
            rng.normal(size=(kh, kw)),
            MODES[i % len(MODES)],
            float(rng.uniform(-50, 50)),
        )


@pytest.mark.parametrize(("image", "kernel", "mode", "cval"), list(_cases(60, 0)))
def test_convolve_and_correlate_equal_scipy(image, kernel, mode, cval):
    np.testing.assert_allclose(
        filters.convolve2d(image, kernel, mode, cval), ndimage.convolve(image, kernel, mode=mode, cval=cval), atol=1e-9
    )
    np.testing.assert_allclose(
        filters.correlate2d(image, kernel, mode, cval),
        ndimage.correlate(image, kernel, mode=mode, cval=cval),
        atol=1e-9,
    )


@pytest.mark.parametrize("mode", MODES)
def test_colour_is_filtered_per_channel(mode):
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (13, 17, 3))
    kernel = rng.normal(size=(4, 3))
    out = filters.convolve2d(image, kernel, mode, 7.0)
    assert out.shape == image.shape and out.dtype == np.float64
    for c in range(3):
        np.testing.assert_allclose(out[..., c], ndimage.convolve(image[..., c], kernel, mode=mode, cval=7.0), atol=1e-9)


def test_integer_input_gives_float64():
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = filters.convolve2d(image, np.full((3, 3), 1 / 9))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ndimage.convolve(image.astype(float), np.full((3, 3), 1 / 9)))


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3, 6.0])
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_blur_equals_scipy(sigma, mode):
    rng = np.random.default_rng(int(sigma * 10))
    image = rng.uniform(0, 255, (19, 14))
    np.testing.assert_allclose(
        filters.gaussian_blur(image, sigma, mode, 3.0), ndimage.gaussian_filter(image, sigma, mode=mode, cval=3.0)
    )


def test_gaussian_blur_colour_and_the_lecture_sigmas():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 255, (40, 50, 3))
    for sigma in (3, 10):  # gaussian_filter(orig, sigma=3) and sigma=10, as on the slide
        np.testing.assert_allclose(
            filters.gaussian_blur(image, sigma), ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0))
        )
    g = filters.gaussian_kernel2d(1.5)
    assert g.shape == (13, 13) and g.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("mode", MODES)
def test_sobel_equals_scipy(axis, mode):
    rng = np.random.default_rng(axis)
    image = rng.uniform(0, 255, (16, 21))
    np.testing.assert_allclose(
        filters.sobel(image, axis, mode, 2.0), ndimage.sobel(image, axis, mode=mode, cval=2.0), atol=1e-9
    )


def test_gradient_magnitude_is_the_slides_code():
    image = np.random.default_rng(3).integers(0, 256, (30, 40)).astype(np.uint8)
    # The slide's code, verbatim apart from the image.
    k_v = np.array([[-1, 0, 1]])
    k_h = np.array([[-1], [0], [1]])
    orig = image.astype("int32")
    edge_h = ndimage.convolve(orig, k_h)
    edge_v = ndimage.convolve(orig, k_v)
    magnitude = np.sqrt(edge_h**2 + edge_v**2)
    magnitude *= 255.0 / np.max(magnitude)
    np.testing.assert_allclose(filters.gradient_magnitude(image, "central"), magnitude)

    ascent = image.astype("int32")
    sobel_h = ndimage.sobel(ascent, 0)
    sobel_v = ndimage.sobel(ascent, 1)
    magnitude = np.sqrt(sobel_h**2 + sobel_v**2)
    magnitude *= 255.0 / np.max(magnitude)
    np.testing.assert_allclose(filters.gradient_magnitude(image, "sobel"), magnitude)
    assert filters.gradient_magnitude(image).max() == pytest.approx(255.0)


def test_flat_image_has_zero_gradient_not_nan():
    out = filters.gradient_magnitude(np.full((9, 9), 42.0), "sobel")
    assert np.all(out == 0)


def test_sobel_kernels_are_the_slides_outer_products():
    np.testing.assert_array_equal(filters.SOBEL_V, np.outer([1, 2, 1], [-1, 0, 1]))
    np.testing.assert_array_equal(filters.SOBEL_H, np.outer([-1, 0, 1], [1, 2, 1]))
    image = np.random.default_rng(4).uniform(0, 255, (12, 12))
    # ndimage.sobel(·, 0) correlates with SOBEL_H, i.e. convolves with it flipped.
    np.testing.assert_allclose(filters.sobel(image, 0), filters.correlate2d(image, filters.SOBEL_H), atol=1e-9)


def test_lecture_7x7_to_5x5_with_torch():
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, (7, 7))
    kernel = rng.normal(size=(3, 3))
    valid = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None])[0, 0].numpy()
    assert valid.shape == (5, 5)
    # Away from the border a same-size correlation equals conv2d without padding.
    np.testing.assert_allclose(filters.correlate2d(image, kernel)[1:-1, 1:-1], valid, atol=1e-9)


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_zero_padded_correlation_equals_torch_conv2d(k):
    rng = np.random.default_rng(k)
    image = rng.uniform(0, 255, (2, 11, 13))
    kernel = rng.normal(size=(k, k))
    x = torch.from_numpy(image)[:, None]
    ref = F.conv2d(x, torch.from_numpy(kernel)[None, None], padding=k // 2)[:, 0].numpy()
    for b in range(2):
        np.testing.assert_allclose(filters.correlate2d(image[b], kernel, "constant"), ref[b], atol=1e-9)


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("kind", filters.filter_kinds())
def test_code_snippets_reproduce_the_result(kind, colour):
    rng = np.random.default_rng(len(kind))
    image = rng.uniform(0, 255, (12, 15, 3) if colour else (12, 15))
    kernel = rng.normal(size=(4, 5)) if kind == filters.CUSTOM else None
    for i, mode in enumerate(MODES):
        spec = filters.make_spec(kind, kernel=kernel, sigma=1.3, mode=mode, cval=5.0 if i % 2 else 0.0)
        expected = filters.apply_filter(image, spec)
        for code in (filters.scipy_code(spec, colour), filters.torch_code(spec, colour)):
            namespace = {"image": image.copy()}
            exec(code, namespace)
            np.testing.assert_allclose(np.asarray(namespace["result"]), expected, atol=1e-8, err_msg=code)


@pytest.mark.parametrize("flip", [True, False])
def test_pixel_inspector_sums_to_the_output(flip):
    rng = np.random.default_rng(6)
    plane = rng.uniform(0, 255, (10, 12))
    for kernel in (rng.normal(size=(3, 3)), rng.normal(size=(4, 5)), rng.normal(size=(1, 6))):
        for mode in MODES:
            ref = (filters.convolve2d if flip else filters.correlate2d)(plane, kernel, mode, 9.0)
            for row, col in [(0, 0), (9, 11), (5, 6), (0, 11), (9, 0)]:
                b = filters.inspect_pixel(plane, kernel, row, col, mode, 9.0, flip=flip)
                assert b.total == pytest.approx(ref[row, col])
                np.testing.assert_allclose(b.products, b.neighbourhood * b.weights)
    b = filters.inspect_pixel(plane, np.ones((3, 3)), 0, 0, "constant", 9.0)
    assert b.outside.sum() == 5 and np.all(b.neighbourhood[b.outside] == 9.0)
    np.testing.assert_array_equal(b.rows, [-1, 0, 1])


def test_inspector_shows_the_flipped_kernel():
    kernel = np.arange(9.0).reshape(3, 3)
    b = filters.inspect_pixel(np.zeros((5, 5)), kernel, 2, 2)
    np.testing.assert_array_equal(b.weights, kernel[::-1, ::-1])


def test_kernel_response_obeys_the_convolution_theorem():
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 255, (32, 24))
    kernel = rng.normal(size=(5, 3))
    out = filters.convolve2d(image, kernel, "wrap")  # circular convolution
    lhs = np.abs(np.fft.fftshift(np.fft.fft2(out)))
    rhs = np.abs(np.fft.fftshift(np.fft.fft2(image))) * filters.kernel_response(kernel, image.shape)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-6)
    box = filters.kernel_response(np.full((3, 3), 1 / 9), (16, 16))
    assert box[8, 8] == pytest.approx(1.0) and box.max() == pytest.approx(1.0)  # low-pass: DC kept, others less
    lap = filters.kernel_response(filters.presets()["Laplacian"].kernel, (16, 16))
    assert lap[8, 8] == pytest.approx(0.0, abs=1e-12) and lap.max() > 7.9  # high-pass: DC removed


def test_fft_magnitude_centre_is_the_mean_brightness():
    image = np.random.default_rng(8).uniform(0, 255, (20, 30))
    mag = filters.fft_magnitude(image)
    assert mag.shape == image.shape
    assert mag[10, 15] == pytest.approx(np.log1p(image.sum()))


def test_high_pass_plus_low_pass_is_the_image():
    image = np.random.default_rng(9).uniform(0, 255, (20, 20, 3))
    np.testing.assert_allclose(filters.high_pass(image, 2.0) + filters.gaussian_blur(image, 2.0), image)


@pytest.mark.parametrize("corner", list(filters.CORNERS))
@pytest.mark.parametrize("kind", ["Sharpen", "Box blur 5×5", filters.GAUSSIAN, "Gradient k_h (lecture)"])
def test_border_comparison_matches_the_full_image(kind, corner):
    image = np.random.default_rng(10).uniform(0, 255, (70, 60))
    spec = filters.make_spec(kind, sigma=1.0, mode="reflect", cval=4.0)
    compared = filters.border_comparison(image, spec, crop=20, pad=5, corner=corner)
    assert list(compared) == MODES
    top, left = filters.corner_offset(corner, 5)
    bottom, right = filters.CORNERS[corner]
    rows = slice(-20, None) if bottom else slice(0, 20)
    cols = slice(-20, None) if right else slice(0, 20)
    for mode, (padded, result) in compared.items():
        full = filters.apply_filter(image, filters.make_spec(kind, sigma=1.0, mode=mode, cval=4.0))
        np.testing.assert_allclose(result, full[rows, cols], atol=1e-9)
        assert padded.shape == (25, 25)
        np.testing.assert_array_equal(padded[top : top + 20, left : left + 20], image[rows, cols])
    if corner == "top-left":
        np.testing.assert_array_equal(compared["constant"][0][:5], 4.0)
        np.testing.assert_array_equal(compared["nearest"][0][:5, 5:], np.repeat(image[:1, :20], 5, axis=0))
        # wrap brings in the image's last rows and columns
        np.testing.assert_array_equal(compared["wrap"][0][:5, :5], image[-5:, -5:])
        np.testing.assert_array_equal(compared["reflect"][0][:5, 5:], image[4::-1, :20])
        np.testing.assert_array_equal(compared["mirror"][0][:5, 5:], image[5:0:-1, :20])


def test_to_display():
    values = np.array([[-100.0, 0.0], [50.0, 400.0]])
    np.testing.assert_array_equal(filters.to_display(values, "clip"), [[0, 0], [50, 255]])
    np.testing.assert_array_equal(filters.to_display(values, "abs"), [[64, 0], [32, 255]])
    np.testing.assert_array_equal(filters.to_display(values, "offset"), [[28, 128], [178, 255]])
    np.testing.assert_array_equal(filters.to_display(values, "stretch"), [[0, 51], [76, 255]])
    assert filters.to_display(values).dtype == np.uint8
    with pytest.raises(InputError):
        filters.to_display(values, "rainbow")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 2 3\n4 5 6", [[1, 2, 3], [4, 5, 6]]),
        ("1, 2; 3, 4", [[1, 2], [3, 4]]),
        ("[[1, -2], [0.5, 1e1]]", [[1, -2], [0.5, 10]]),
        ("1/9 1/9\n -1/2 .25 ", [[1 / 9, 1 / 9], [-0.5, 0.25]]),
        ("-1\n0\n1", [[-1], [0], [1]]),
        ("  7  ", [[7]]),
    ],
)
def test_parse_kernel(text, expected):
    np.testing.assert_allclose(filters.parse_kernel(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("1 2\n3", "same number of entries"),
        ("1 x 3", "'x' is not a number"),
        ("1 nan", "not a number"),
        ("1/0", "divides by zero"),
        ("1e999", "too large"),
        ("\n".join([" ".join(["1"] * 16)] * 16), "largest allowed is 15×15"),
    ],
)
def test_parse_kernel_errors(text, message):
    with pytest.raises(InputError, match=message):
        filters.parse_kernel(text)


def test_presets_round_trip_and_sum():
    table = filters.presets()
    for name in ("Identity", "Box blur 3×3", "Box blur 5×5", "Sharpen", "Laplacian", "Emboss", "Outline"):
        assert name in table
    assert table["Box blur 3×3"].kernel.sum() == pytest.approx(1.0)
    assert table["Laplacian"].kernel.sum() == 0
    image = np.random.default_rng(11).uniform(0, 255, (9, 9))
    np.testing.assert_allclose(filters.convolve2d(image, table["Identity"].kernel), image)
    for p in table.values():
        np.testing.assert_allclose(filters.parse_kernel(filters.format_kernel(p.kernel, 17)), p.kernel)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: filters.convolve2d(np.zeros((2, 5)), np.ones((6, 3))), "larger than the 2×5 image"),
        (lambda: filters.correlate2d(np.zeros((5, 5)), np.ones((3, 3)), mode="zero"), "Unknown border mode"),
        (lambda: filters.gaussian_blur(np.zeros((5, 5)), 0), "greater than 0"),
        (lambda: filters.gaussian_blur(np.zeros((5, 5)), -1.0), "greater than 0"),
        (lambda: filters.gaussian_blur(np.zeros((5, 5)), "wide"), "must be a number"),
        (lambda: filters.convolve2d(np.zeros((5, 5, 7)), np.ones((3, 3))), "grayscale"),
        (lambda: filters.convolve2d(np.full((5, 5), np.nan), np.ones((3, 3))), "NaN"),
        (lambda: filters.convolve2d(np.zeros((5, 5)), np.ones((0, 3))), "2-D matrix"),
        (lambda: filters.convolve2d(np.zeros((5, 5)), [[1, 2], [3]]), "same count"),
        (lambda: filters.sobel(np.zeros((5, 5)), 2), "axis must be 0"),
        (lambda: filters.gradient_magnitude(np.zeros((5, 5)), "prewitt"), "central"),
        (lambda: filters.inspect_pixel(np.zeros((5, 5)), np.ones((3, 3)), 5, 0), "outside"),
        (lambda: filters.make_spec("Nope"), "Unknown filter"),
    ],
)
def test_bad_input_raises_input_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_busiest_corner():
    image = np.zeros((30, 40))
    image[-10:, -10:] = np.random.default_rng(12).uniform(0, 255, (10, 10))
    assert filters.busiest_corner(image, 10) == "bottom-right"
    image = np.zeros((30, 40))
    image[:10, -10:] = np.eye(10) * 255
    assert filters.busiest_corner(image, 10) == "top-right"


def test_edge_pixel_against_scipy_and_the_slide_formula():
    from scipy import ndimage

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (9, 11)).astype(np.float64)
    for r, c in [(0, 0), (4, 5), (8, 10)]:
        central = filters.edge_pixel(img, "central", r, c)
        assert central.convolved == central.edge_h == ndimage.convolve(img, filters.K_H)[r, c]
        padded = np.pad(img, 1, mode="symmetric")  # scipy's "reflect"
        assert central.derivative == 0.5 * (padded[r + 2, c + 1] - padded[r, c + 1])
        sob = filters.edge_pixel(img, "sobel", r, c)
        assert sob.edge_h == ndimage.sobel(img, 0)[r, c] == -sob.convolved
        assert sob.convolved == ndimage.convolve(img, filters.SOBEL_H)[r, c]
    with pytest.raises(InputError):
        filters.edge_pixel(img, "prewitt", 0, 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", ["fft", "blocks"])
def test_fast_paths_equal_scipy(mode, path, monkeypatch):
    """Large kernels go through the FFT, the rest block by block (many small blocks here); both equal SciPy."""
    from cnn_demo.images.filters import filtering  # the module that reads the constants, not the package

    calls = {"fft": 0, "blocks": 0}
    fft, daxpy = filtering._correlate_fft, filtering._daxpy

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(filtering, "_correlate_fft", counted("fft", fft))
    monkeypatch.setattr(filtering, "_daxpy", counted("blocks", daxpy))
    if path == "fft":
        monkeypatch.setattr(filtering, "FFT_TAPS", 0)
    else:
        monkeypatch.setattr(filtering, "BLOCK_ELEMENTS", 64)
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 255, (37, 29, 3))
    kernel = rng.normal(size=(5, 4))
    for c in range(3):
        np.testing.assert_allclose(
            filters.convolve2d(image, kernel, mode, 5.0)[..., c],
            ndimage.convolve(image[..., c], kernel, mode=mode, cval=5.0),
            atol=1e-9,
        )
    np.testing.assert_allclose(
        filters.gaussian_blur(image[..., 0], 1.5, mode, 5.0),
        ndimage.gaussian_filter(image[..., 0], 1.5, mode=mode, cval=5.0),
        atol=1e-9,
    )
    np.testing.assert_allclose(
        filters.sobel(image[..., 1], 1, mode, 5.0), ndimage.sobel(image[..., 1], 1, mode=mode, cval=5.0), atol=1e-9
    )
    other = "blocks" if path == "fft" else "fft"
    assert calls[path] > (40 if path == "blocks" else 0) and calls[other] == 0, calls  # the path under test ran


def test_a_large_kernel_on_a_large_image_equals_scipy():
    """The sizes the benchmark times: a 15×15 kernel (FFT) and σ = 10 (81 taps, FFT) on 256² (blocks for 3×3)."""
    rng = np.random.default_rng(8)
    image = rng.uniform(0, 255, (256, 256))
    for kernel in (rng.normal(size=(15, 15)), rng.normal(size=(3, 3))):
        for mode in ("constant", "wrap"):
            np.testing.assert_allclose(
                filters.convolve2d(image, kernel, mode), ndimage.convolve(image, kernel, mode=mode), atol=1e-8
            )
    np.testing.assert_allclose(filters.gaussian_blur(image, 10.0), ndimage.gaussian_filter(image, 10.0), atol=1e-9)
    assert filters.convolve2d(np.full((300, 300), 7.0), np.ones((3, 3))).min() == 63.0  # exact on the direct path


@pytest.mark.parametrize("mode", MODES)
def test_kernels_larger_than_the_lectures_7x7_image_equal_scipy(mode):
    """The lecture's 7×7 image under the page's default Gaussian (17×17) or any larger kernel: the border mode
    extends the image as far as the kernel reaches, as SciPy does, instead of refusing the kernel."""
    image = (np.arange(49).reshape(7, 7) * 5).astype(np.float64)
    rng = np.random.default_rng(11)
    for kernel in (filters.gaussian_kernel2d(2.0), rng.normal(size=(9, 11)), rng.normal(size=(3, 15))):
        want = ndimage.convolve(image, kernel, mode=mode, cval=4.0)
        np.testing.assert_allclose(filters.convolve2d(image, kernel, mode, 4.0), want, atol=1e-9)
        np.testing.assert_allclose(
            filters.correlate2d(image, kernel, mode, 4.0),
            ndimage.correlate(image, kernel, mode=mode, cval=4.0),
            atol=1e-9,
        )
        for r, c in ((0, 0), (3, 6), (6, 2)):
            assert filters.inspect_pixel(image, kernel, r, c, mode, 4.0).total == pytest.approx(want[r, c], abs=1e-9)
            assert filters.conv_windows(image, kernel, r, c, mode, 4.0).value(r, c) == pytest.approx(
                want[r, c], abs=1e-9
            )
