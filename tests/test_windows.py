"""cnn_demo.windows (convolutions laid out for linked views) against SciPy and the filters module."""

import numpy as np
import pytest
from scipy import ndimage

from cnn_demo import filters
from cnn_demo.errors import InputError
from cnn_demo.viz_filters import LINKED_CELLS, linked_conv_figure, products_figure
from cnn_demo.windows import linked_cell, written_products

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (20, 23)).astype(float)


@pytest.mark.parametrize("mode", list(filters.MODES))
@pytest.mark.parametrize("shape", [(3, 3), (5, 5), (1, 3)])
def test_every_cell_of_a_tile_is_scipys_convolution(mode, shape):
    kernel = RNG.normal(size=shape)
    want = ndimage.convolve(IMAGE, kernel, mode=mode, cval=7.0)
    for row, col in [(0, 0), (19, 22), (10, 3), (6, 6), (7, 7), (13, 20)]:
        cw = filters.conv_windows(IMAGE, kernel, row, col, mode, 7.0)
        assert cw.output_shape == (7, 7)
        np.testing.assert_allclose(cw.output, want[np.ix_(cw.out_rows, cw.out_cols)], atol=1e-9)
        i, j = cw.cell_of(row, col)
        assert (cw.out_rows[i], cw.out_cols[j]) == (row, col)
        # the window really is the neighbourhood the pixel inspector shows, with the flipped kernel
        b = filters.inspect_pixel(IMAGE, kernel, row, col, mode, 7.0)
        np.testing.assert_allclose(cw.neighbourhood(i, j)[0], b.neighbourhood)
        np.testing.assert_allclose(cw.weights[0], kernel[::-1, ::-1])
        np.testing.assert_allclose(cw.products(i, j)[0], b.products)


def test_even_kernels_match_the_pages_convolution_and_outside_cells_are_marked():
    kernel = RNG.normal(size=(4, 2))
    want = filters.convolve2d(IMAGE, kernel, "constant", 3.0)
    cw = filters.conv_windows(IMAGE, kernel, 19, 0, "constant", 3.0)
    np.testing.assert_allclose(cw.output, want[np.ix_(cw.out_rows, cw.out_cols)], atol=1e-9)
    assert cw.outside[-1].all() and not cw.outside[0, 1:].any()  # the rows below the image are invented
    assert (cw.inputs[0][cw.outside] == 3.0).all()


def test_tiles_stay_put_while_the_pixel_moves_inside_them():
    a = filters.conv_windows(IMAGE, np.ones((3, 3)), 7, 8)
    b = filters.conv_windows(IMAGE, np.ones((3, 3)), 13, 13)
    assert a.out_rows.tolist() == b.out_rows.tolist() == list(range(7, 14))
    last = filters.conv_windows(IMAGE, np.ones((3, 3)), 19, 22)  # the last tile is shifted to fit
    assert last.out_rows.tolist() == list(range(13, 20)) and last.out_cols.tolist() == list(range(16, 23))
    assert filters.conv_windows(IMAGE, np.ones((3, 3)), 0, 0).cell_of(10, 10) is None
    with pytest.raises(InputError, match="outside"):
        filters.conv_windows(IMAGE, np.ones((3, 3)), 20, 0)


def test_written_products_add_up():
    cw = filters.conv_windows(IMAGE, filters.presets()["Sharpen"].kernel, 10, 10)
    lines = written_products(cw, 2, 3)
    hood = cw.neighbourhood(2, 3)[0]
    assert lines[0] == f"{hood[0, 0]:.4g}×0 + {hood[0, 1]:.4g}×(-1) + {hood[0, 2]:.4g}×0"
    assert lines[1].startswith("+ ") and len(lines) == 4
    assert lines[-1] == f"= {cw.value(2, 3):.6g}"
    big = filters.conv_windows(IMAGE, np.ones((7, 7)), 10, 10)
    assert written_products(big, 0, 0)[0].startswith("channel 0: Σ 7×7 = ")


def test_linked_cell_reads_the_clicked_point():
    assert linked_cell([{"customdata": [2, 3]}], (7, 7)) == (2, 3)
    assert linked_cell([{"customdata": [1, 1]}, {"x": 4}, {"customdata": [9, 0]}], (7, 7)) == (1, 1)
    assert linked_cell([], (7, 7)) is None
    assert linked_cell(None, (7, 7)) is None
    assert linked_cell([{"customdata": ["a", 1]}], (7, 7)) is None


def test_linked_figure_outlines_the_window_and_kernel_of_the_selected_cell():
    cw = filters.conv_windows(IMAGE, np.arange(9.0).reshape(3, 3), 10, 10)
    fig = linked_conv_figure(cw, (2, 4))
    cells = next(t for t in fig.data if t.name == LINKED_CELLS)
    assert len(cells.customdata) == 49 and list(cells.customdata[2 * 7 + 4]) == [2, 4]
    assert cells.hovertext[2 * 7 + 4].endswith(f"= {cw.value(2, 4):.6g}")
    window, kernel, current = fig.layout.shapes
    assert (window.x0, window.x1, window.y0, window.y1) == (3.5, 6.5, 1.5, 4.5)  # columns 4..6, rows 2..4
    assert (kernel.x0, kernel.x1) == (-0.5, 2.5) and (current.x0, current.y0) == (3.5, 1.5)
    assert (
        fig.layout.title.text
        == f"Output row {cw.out_rows[2]}, col {cw.out_cols[4]} = Σ window × kernel = {cw.value(2, 4):.6g}"
    )
    assert not linked_conv_figure(cw, None).layout.shapes
    p = products_figure(cw, 2, 4)
    np.testing.assert_allclose(p.data[2].z, cw.products(2, 4)[0])
    assert p.layout.title.text == f"Σ products = {cw.value(2, 4):.6g}"


def test_editing_a_kernel_in_its_grid_keeps_the_typed_entries():
    text = "1/16 2/16 1/16\n2/16 4/16 2/16\n1/16 2/16 1/16"
    assert filters.edit_kernel_text(text, {"1": {"1": -0.5}}) == "1/16 2/16 1/16\n2/16 -0.5 2/16\n1/16 2/16 1/16"
    assert filters.edit_kernel_text(text, {2: {0: None}}).splitlines()[2] == "0 2/16 1/16"
    assert filters.edit_kernel_text("[[1, 2], [3, 4]]", {0: {"1": 7}}) == "1 7\n3 4"
    assert filters.edit_kernel_text("1; 2", {}) == "1\n2"
    with pytest.raises(InputError, match="outside"):
        filters.edit_kernel_text("1 2", {0: {"5": 1}})
    with pytest.raises(InputError):
        filters.edit_kernel_text("1 a", {0: {"0": 1}})


@pytest.mark.parametrize(
    ("args", "shape"),
    [
        ((3, 3, 1, 1, 1, 1, True, (32, 32)), (7, 7)),
        ((5, 3, 2, 0, 2, 1, False, (32, 32)), (2, 2)),
        ((4, 2, 1, 0, 1, 2, True, (5, 9)), (4, 6)),
        ((1, 5, 3, 2, 1, 1, True, (32, 32)), (3, 3)),
        ((8, 5, 1, 0, 3, 1, True, (64, 64)), (1, 1)),  # dilated: the example grows to fit the kernel (13 cells)
    ],
)
def test_conv_example_is_filter_zero_of_the_layer_in_torch(args, shape):
    import torch
    import torch.nn.functional as F

    from cnn_demo.layers import conv_example

    in_ch, k, s, p, d, groups, bias, hw = args
    ex = conv_example(in_ch, k, s, p, d, groups, bias, hw)
    cw = ex.windows
    assert cw.output_shape == shape
    assert cw.inputs.shape[0] == min(in_ch // groups, 3)
    x = torch.from_numpy(cw.inputs[:, p : cw.inputs.shape[1] - p, p : cw.inputs.shape[2] - p])[None]
    layer = torch.nn.Conv2d(cw.inputs.shape[0], 1, k, s, p, d, bias=bias).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(cw.weights)[None])
        if bias:
            layer.bias.fill_(cw.bias)
        want = layer(x)[0, 0].numpy()
    np.testing.assert_array_equal(cw.output, want)
    np.testing.assert_array_equal(ex.torch_output, want)
    i, j = shape[0] - 1, shape[1] - 1  # the last cell reads the window s·i + d·(0..k-1) of the padded input
    rows, cols = cw.window(i, j)
    assert rows.tolist() == [s * i + d * t for t in range(k)] and cols.tolist() == [s * j + d * t for t in range(k)]
    ns = {"torch": torch, "F": F}
    exec(ex.code, ns)  # the code shown on the page builds the same numbers
    np.testing.assert_array_equal(ns["y"][0, 0].numpy(), want)


def test_conv_example_gives_up_on_kernels_too_wide_to_draw():
    from cnn_demo.layers import conv_example

    assert conv_example(3, 15, dilation=6, input_hw=(128, 128)) is None
    assert conv_example(3, 3, padding=10) is None


def test_cached_figure_builds_once_and_equals_the_builder(monkeypatch):
    from cnn_demo.ui import figcache

    figcache._figure_dict.clear()
    calls = []
    real = figcache._BUILDERS["products"]
    monkeypatch.setitem(figcache._BUILDERS, "products", lambda *a, **k: calls.append(a) or real(*a, **k))
    cw = filters.conv_windows(IMAGE, np.ones((3, 3)), 5, 5)
    first = figcache.cached_figure("products", cw, 1, 2, in_scale="gray")
    again = figcache.cached_figure("products", cw, 1, 2, in_scale="gray")
    assert len(calls) == 1
    assert first.to_dict() == again.to_dict() == real(cw, 1, 2, in_scale="gray").to_dict()
    figcache.cached_figure("products", cw, 2, 2, in_scale="gray")  # another cell: built anew
    assert len(calls) == 2
