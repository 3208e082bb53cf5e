"""cnn_demo.images.windows (convolutions laid out for linked views) against SciPy and the filters module."""

import json

import numpy as np
import pytest
from scipy import ndimage

from cnn_demo.errors import InputError
from cnn_demo.images import filters
from cnn_demo.images.figures import CURRENT_COLOUR, READ_COLOUR, cell_colours, linked_conv_data, products_figure
from cnn_demo.images.windows import linked_cell, written_products

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


def test_linked_cell_reads_the_clicked_cell_the_browser_sent():
    assert linked_cell([2, 3], (7, 7)) == (2, 3)
    assert linked_cell((6, 0), (7, 7)) == (6, 0)
    for bad in (None, [], [1], [1, 2, 3], ["a", 1], [1.5, 2], [True, 1], [7, 0], [0, -1], {"i": 1}, "1,2"):
        assert linked_cell(bad, (7, 7)) is None, bad


def test_cell_colours_follow_the_scale_and_keep_the_text_readable():
    bg, fg = cell_colours(np.array([[0.0, 128.0], [255.0, 300.0]]), 0.0, 255.0, "gray")
    assert bg == ["#000000", "#808080", "#ffffff", "#ffffff"]  # linear, clipped to the range
    assert fg == ["#ffffff", "#111111", "#111111", "#111111"]
    bg, fg = cell_colours(np.array([-2.0, 0.0, 2.0]), -2.0, 2.0, "RdBu_r")
    assert bg == ["#053061", "#f7f7f7", "#67001f"] and fg == ["#ffffff", "#111111", "#ffffff"]
    bg, _ = cell_colours(np.array([0.0, 1.0]), 0.0, 1.0, "Viridis")
    assert bg == ["#440154", "#fde725"]
    assert cell_colours(np.array([3.0, 3.0]), 3.0, 3.0, "Viridis")[0][0] == cell_colours([0.5], 0, 1, "Viridis")[0][0]


def test_linked_view_data_holds_every_cell_window_and_product_of_the_convolution():
    cw = filters.conv_windows(IMAGE, np.arange(9.0).reshape(3, 3), 10, 10, "constant", 7.0)
    d = linked_conv_data(cw, (2, 4))
    (grid,) = d["inputs"]
    assert (grid["rows"], grid["cols"]) == (9, 9) and grid["showText"]
    assert grid["text"][0] == f"{cw.inputs[0, 0, 0]:.3g}" + ("*" if cw.outside[0, 0] else "")
    assert grid["bg"][1] == "#{0:02x}{0:02x}{0:02x}".format(round(cw.inputs[0, 0, 1]))  # gray 0..255
    assert d["kernels"][0]["text"] == [f"{v:.3g}" for v in cw.weights[0].ravel()]
    assert d["kernels"][0]["label"] == "Kernel as laid on the input"
    out = d["output"]
    assert out["label"] == "Output: hover or click a cell" and out["text"][2 * 7 + 4] == f"{cw.value(2, 4):.3g}"
    assert out["bg"][int(np.argmin(cw.output))] == "#440154"  # viridis over the output's range
    assert len(d["traces"]) == 49
    t = d["traces"][2 * 7 + 4]
    assert t["rows"] == [2, 3, 4] and t["cols"] == [4, 5, 6]
    assert t["lines"] == written_products(cw, 2, 4, max_terms=81)
    assert t["title"] == f"Output row {cw.out_rows[2]}, col {cw.out_cols[4]} = Σ window × kernel = {cw.value(2, 4):.6g}"
    assert d["selected"] == [2, 4] and d["title"] == t["title"]
    assert d["inRows"] == cw.in_rows.tolist() and d["outCols"] == cw.out_cols.tolist() and d["contiguous"]
    assert d["colours"] == {"read": READ_COLOUR, "current": CURRENT_COLOUR}  # the page's other figures' colours
    # every trace's window times the kernel is that output cell: the browser shows exactly the convolution
    for n, tr in enumerate(d["traces"]):
        i, j = divmod(n, 7)
        window = cw.inputs[0][np.ix_(tr["rows"], tr["cols"])]
        assert float((window * cw.weights[0]).sum()) == pytest.approx(cw.output[i, j])
    none = linked_conv_data(cw, None)
    assert none["selected"] is None and none["title"] is None
    assert linked_conv_data(cw, (7, 0))["selected"] is None  # outside the tile: nothing selected
    json.dumps(d)  # plain JSON for the browser


def test_linked_view_data_of_a_conv_layer_with_channels_bias_stride_and_dilation():
    from cnn_demo.blocks.layers import conv_example

    cw = conv_example(3, 3, 2, 1, 2, 1, True, (9, 9)).windows
    d = linked_conv_data(cw, (1, 1), in_range=(0.0, 9.0), in_scale="Blues", kernel_title="Filter 0")
    assert [g["label"] for g in d["inputs"]] == [f"Input, channel {c}" for c in range(3)]
    assert [g["label"] for g in d["kernels"]] == [f"Filter 0, channel {c}" for c in range(3)]
    assert d["inputs"][0]["bg"][0] == "#f7fbff"  # Blues at 0: the padding
    assert all(t.endswith("*") for t in d["inputs"][0]["text"][: d["inputs"][0]["cols"]])  # the padding row
    t = d["traces"][1 * cw.output_shape[1] + 1]
    assert t["rows"] == [2, 4, 6] and t["cols"] == [2, 4, 6] and not d["contiguous"]  # stride 2, dilation 2
    assert t["title"] == f"Output row 1, col 1 = Σ window × kernel + bias = {cw.value(1, 1):.6g}"
    assert t["lines"][-2] == f"+ bias {cw.bias:.4g}" and len(t["lines"]) == 3 * 3 + 2
    assert d["output"]["text"] == [f"{v + 0.0:.3g}" for v in cw.output.ravel()]


def test_linked_view_drops_unreadable_text_on_large_kernels():
    cw = filters.conv_windows(IMAGE, np.ones((11, 11)) / 121, 10, 10)
    d = linked_conv_data(cw, (0, 0))
    assert not d["inputs"][0]["showText"] and not d["kernels"][0]["showText"] and d["output"]["showText"]
    assert d["traces"][0]["lines"][0].startswith("channel 0: Σ 11×11 = ")


def test_products_figure_writes_the_sum():
    cw = filters.conv_windows(IMAGE, np.arange(9.0).reshape(3, 3), 10, 10)
    p = products_figure(cw, 2, 4)
    np.testing.assert_allclose(p.data[2].z, cw.products(2, 4)[0])
    assert p.layout.title.text == f"Σ products = {cw.value(2, 4):.6g}"


def test_the_linked_views_script_never_writes_markup():
    from pathlib import Path

    js = (Path(__file__).parents[2] / "cnn_demo" / "ui" / "linked_view.js").read_text()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "http://", "https://", "@import"):
        assert banned not in js.replace('"http://www.w3.org/2000/svg"', ""), banned


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

    from cnn_demo.blocks.layers import conv_example

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
    from cnn_demo.blocks.layers import conv_example

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
