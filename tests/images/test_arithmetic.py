"""Convolution arithmetic against the shapes real PyTorch layers produce (and refuse)."""

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.images import arithmetic as ar


def _torch_shape(make, h: int, w: int):
    try:
        with torch.no_grad():
            return tuple(make()(torch.zeros(1, 1, h, w)).shape[-2:])
    except (RuntimeError, ValueError):
        return "refused"


def _ours(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InputError:
        return "refused"


def test_lecture_example_7x7_to_5x5():
    assert ar.conv_output_size(7, 3) == 5
    assert ar.conv_output_size((7, 7), (3, 3), (1, 1)) == (5, 5)
    assert ar.conv_output_size(7, 3, padding=1) == 7  # "the image size can be preserved by using padding"
    assert _torch_shape(lambda: nn.Conv2d(1, 1, 3), 7, 7) == (5, 5)


def _random_settings(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        yield (
            (rng.randint(1, 12), rng.randint(1, 12)),
            (rng.randint(1, 6), rng.randint(1, 6)),
            (rng.randint(1, 4), rng.randint(1, 4)),
            (rng.randint(0, 3), rng.randint(0, 3)),
            (rng.randint(1, 3), rng.randint(1, 3)),
        )


def test_conv_output_size_equals_conv2d_on_random_settings():
    refused = 0
    for size, k, s, p, d in _random_settings(0, 400):
        ref = _torch_shape(lambda k=k, s=s, p=p, d=d: nn.Conv2d(1, 1, k, s, p, d), *size)
        assert _ours(ar.conv_output_size, size, k, s, p, d) == ref, (size, k, s, p, d)
        refused += ref == "refused"
    assert 20 < refused < 380  # both outcomes were exercised


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_conv_output_size_equals_maxpool2d_on_random_settings(ceil_mode):
    refused = 0
    for size, k, s, p, d in _random_settings(1 + ceil_mode, 400):
        ref = _torch_shape(lambda k=k, s=s, p=p, d=d: nn.MaxPool2d(k, s, p, d, ceil_mode=ceil_mode), *size)
        got = _ours(ar.conv_output_size, size, k, s, p, d, ceil_mode, layer="pool")
        assert got == ref, (size, k, s, p, d, ceil_mode)
        refused += ref == "refused"
    assert 20 < refused < 380


def test_ceil_mode_examples():
    # 5 with kernel 2, stride 2: floor gives 2, ceil 3 (the last window hangs over the edge).
    assert ar.conv_output_size(5, 2, 2, layer="pool") == 2
    assert ar.conv_output_size(5, 2, 2, ceil_mode=True) == 3
    # The last window may not start in the right padding: 5, k2 s2 p1 gives 3 in ceil mode, not 4.
    assert (
        ar.conv_output_size(5, 2, 2, 1, ceil_mode=True)
        == 3
        == _torch_shape(lambda: nn.AvgPool2d(2, 2, 1, ceil_mode=True), 5, 5)[0]
    )


def test_padding_strings_and_per_axis_values():
    assert ar.conv_output_size((10, 20), (3, 5), padding="same") == (10, 20)
    assert ar.conv_output_size(10, 3, padding="valid") == 8
    assert ar.conv_output_size((32, 17), (5, 3), (2, 1), (2, 0), (1, 2)) == _torch_shape(
        lambda: nn.Conv2d(1, 1, (5, 3), (2, 1), (2, 0), (1, 2)), 32, 17
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(size=4, kernel=5), "larger than the padded input"),
        (dict(size=4, kernel=3, dilation=2), "dilated to 5"),
        (dict(size=8, kernel=3, stride=0), "stride must be positive"),
        (dict(size=8, kernel=3, padding=-1), "padding must be at least 0"),
        (dict(size=8, kernel=3, stride=2, padding="same"), "not supported for strided"),
        (dict(size=8, kernel=3, ceil_mode=True, layer="conv"), "no ceil_mode"),
        (dict(size=8, kernel=3, padding=2, layer="pool"), "at most half the kernel"),
        (dict(size=8, kernel=2.5), "whole number"),
        (dict(size=(8, 8, 8), kernel=3), "pair"),
        (dict(size=0, kernel=1), "input size must be positive"),
    ],
)
def test_conv_output_size_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        ar.conv_output_size(**kwargs)


def test_transposed_output_size_equals_torch():
    rng = random.Random(3)
    refused = 0
    for _ in range(300):
        n, k, s, p, op, d = (
            rng.randint(1, 8),
            rng.randint(1, 5),
            rng.randint(1, 3),
            rng.randint(0, 3),
            rng.randint(0, 2),
            rng.randint(1, 3),
        )
        ref = _torch_shape(lambda k=k, s=s, p=p, op=op, d=d: nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d), n, n)
        if ref != "refused" and min(ref) == 0:
            ref = "refused"  # PyTorch silently returns an empty map here; we report it as an error
        got = _ours(ar.transposed_output_size, n, k, s, p, op, d)
        assert (got, got) == ref if ref != "refused" else got == "refused", (n, k, s, p, op, d)
        refused += ref == "refused"
    assert 10 < refused < 290
    assert ar.transposed_output_size(5, 3, 2, 1, 1) == 10
    assert ar.conv_output_size(10, 3, 2, 1) == 5  # the convolution it undoes


def test_transposed_errors():
    with pytest.raises(InputError, match="output_padding"):
        ar.transposed_output_size(4, 3, stride=2, output_padding=2)
    with pytest.raises(InputError, match="too large"):
        ar.transposed_output_size(2, 1, padding=3)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation"),
    [
        ((7, 7), (3, 3), (1, 1), (0, 0), (1, 1)),
        ((9, 8), (3, 2), (2, 3), (1, 2), (2, 1)),
        ((6, 11), (2, 4), (1, 2), (0, 1), (3, 2)),
    ],
)
def test_window_cells_equal_unfold(size, kernel, stride, padding, dilation):
    """Each output cell reads exactly the input cells F.unfold gathers for it (padding read as −1)."""
    h, w = size
    index = torch.arange(h * w, dtype=torch.float64).reshape(1, 1, h, w)
    shifted = F.pad(index + 1, (padding[1], padding[1], padding[0], padding[0]))  # 0 = padding
    cols = F.unfold(shifted, kernel, dilation=dilation, stride=stride)[0] - 1  # (kh*kw, L)
    cells = ar.window_cells(size, kernel, stride, padding, dilation)
    oh, ow = ar.conv_output_size(size, kernel, stride, padding, dilation)
    assert len(cells) == oh * ow == cols.shape[1]
    for (i, j), read in cells.items():
        expected = cols[:, i * ow + j].long().tolist()
        got = [r * w + c if 0 <= r < h and 0 <= c < w else -1 for r, c in read]
        assert got == expected


def _brute_receptive_field(layers, n: int = 96) -> int:
    """Receptive field of the centre unit from the gradient of a linear stack (all-ones convs, average pools)."""
    mods = []
    for k, s, p, d, kind in layers:
        if kind == "pool":
            mods.append(nn.AvgPool2d(k, s, p))
        else:
            conv = nn.Conv2d(1, 1, k, s, p, d, bias=False)
            nn.init.ones_(conv.weight)
            mods.append(conv)
    net = nn.Sequential(*mods).double()
    x = torch.rand(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = net(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("seed", range(8))
def test_receptive_field_equals_gradient_support(seed):
    rng = random.Random(seed)
    layers = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["conv", "conv", "pool"])
        k = rng.randint(1, 5)
        s = rng.randint(1, 2)
        d = rng.randint(1, 2) if kind == "conv" else 1
        p = rng.randint(0, k // 2)
        layers.append((k, s, p, d, kind))
    fields = ar.receptive_field([(k, s, p, d) for k, s, p, d, _ in layers])
    assert fields[-1].size == _brute_receptive_field(layers)
    jump = 1
    for f, (_, s, _, _, _) in zip(fields, layers, strict=True):
        jump *= s
        assert f.jump == jump


def test_alexnet_receptive_field_and_sizes():
    layers = [
        dict(name="conv1", kind="conv", kernel=11, stride=4, padding=2, dilation=1),
        dict(name="pool1", kind="pool", kernel=3, stride=2, padding=0, dilation=1),
        dict(name="conv2", kind="conv", kernel=5, stride=1, padding=2, dilation=1),
        dict(name="pool2", kind="pool", kernel=3, stride=2, padding=0, dilation=1),
        dict(name="conv3", kind="conv", kernel=3, stride=1, padding=1, dilation=1),
        dict(name="conv4", kind="conv", kernel=3, stride=1, padding=1, dilation=1),
        dict(name="conv5", kind="conv", kernel=3, stride=1, padding=1, dilation=1),
        dict(name="pool5", kind="pool", kernel=3, stride=2, padding=0, dilation=1),
    ]
    assert [f.size for f in ar.receptive_field(layers)] == [11, 19, 51, 67, 99, 131, 163, 195]
    sizes = ar.stack_sizes(224, layers)
    net = nn.Sequential(
        nn.Conv2d(1, 1, 11, 4, 2),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(1, 1, 5, padding=2),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(1, 1, 3, padding=1),
        nn.Conv2d(1, 1, 3, padding=1),
        nn.Conv2d(1, 1, 3, padding=1),
        nn.MaxPool2d(3, 2),
    )
    x = torch.zeros(1, 1, 224, 224)
    expected = []
    with torch.no_grad():
        for m in net:
            x = m(x)
            expected.append(x.shape[-1])
    assert sizes == expected == [55, 27, 27, 13, 13, 13, 13, 6]
    with pytest.raises(InputError, match="Layer 8 \\(pool5\\) on a 2×2 input"):
        ar.stack_sizes(48, layers)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([], "at least one layer"),
        ([dict(kernel=float("nan"))], "no kernel size"),
        ([dict(kernel=3, stride=0)], "stride must be a whole number ≥ 1"),
        ([dict(kernel="three")], "whole number"),
        ([dict(kernel=2.5)], "whole number"),
        ([dict(kernel=3, kind="dense")], "kind must be"),
        ([(3, 1, -1)], "padding must be a whole number ≥ 0"),
    ],
)
def test_receptive_field_errors(layers, message):
    with pytest.raises(InputError, match=message):
        ar.receptive_field(layers)


def test_run_layer_and_code_line():
    line = ar.layer_code((3, 5), 2, (1, 2), 1, layer="conv", in_channels=3, out_channels=8)
    assert line == "nn.Conv2d(in_channels=3, out_channels=8, kernel_size=(3, 5), stride=2, padding=(1, 2), dilation=1)"
    m = eval(line, {"nn": nn})
    assert m.kernel_size == (3, 5) and m.padding == (1, 2)
    run = ar.run_layer((20, 30), (3, 5), 2, (1, 2), 1)
    assert run == ar.LayerRun((1, 3, 20, 30), (1, 8, *ar.conv_output_size((20, 30), (3, 5), 2, (1, 2), 1)), "cpu")
    pool = ar.layer_code(2, 2, 0, 1, True, layer="pool")
    assert eval(pool, {"nn": nn}).ceil_mode is True
    assert ar.run_layer((5, 5), 2, 2, 0, 1, True, layer="pool").output_shape == (1, 3, 3, 3)
    with pytest.raises(InputError, match="PyTorch refuses"):
        ar.run_layer((4, 4), 5)
    big = ar.run_layer((4096, 4096), 64, 1, 0, 1)  # 4096²·64²·24 multiply-adds: shapes only
    assert big.device == "meta" and big.output_shape == (1, 8, 4033, 4033)
    with pytest.raises(InputError, match="PyTorch refuses"):
        ar.run_layer((3000, 3000), 64, dilation=60)
    line, shape = ar.run_transposed((5, 5), 3, 2, 1, 1)
    assert shape == (1, 1, 10, 10) and eval(line, {"nn": nn}).output_padding == (1, 1)


def test_window_read_counts_match_kernel():
    cells = ar.window_cells((7, 7), 3, 2, 1, 2)
    assert all(len(v) == 9 for v in cells.values())
    rows = ar.axis_windows(7, 3, 2, 1, 2)
    assert rows[0] == [-1, 1, 3] and np.diff(rows[1]).tolist() == [2, 2]


def test_animated_grid_highlights_the_cells_each_output_reads():
    from cnn_demo.images.figures import conv_grid_figure

    size, kernel, stride, padding, dilation = (6, 7), (3, 2), (2, 1), (1, 1), (1, 2)
    fig = conv_grid_figure(size, kernel, stride, padding, dilation)
    cells = ar.window_cells(size, kernel, stride, padding, dilation)
    assert len(fig.frames) == len(cells)
    for frame in fig.frames:
        i, j = map(int, frame.name.split(","))
        z = np.asarray(frame.data[0].z, dtype=float)
        read = {(int(r) - padding[0], int(c) - padding[1]) for r, c in zip(*np.nonzero(z == 2), strict=True)}
        assert read == set(cells[(i, j)])
        current = list(zip(*np.nonzero(z == 4), strict=True))
        assert len(current) == 1
    assert len(fig.layout.sliders[0].steps) == len(cells)


def test_ceil_mode_steps_show_the_rounded_up_formula_and_the_dropped_window():
    # The lecture's example: ⌈(5 + 2 − 1 − 1)/2 + 1⌉ = ⌈3.5⌉ = 4, but the 4th window starts at 6 = 1 + 5, where the
    # right-hand padding begins, so PyTorch gives 3.
    assert ar.ceil_mode_steps(5, 2, 2, 1) == (4, 6, True)
    assert ar.ceil_mode_steps(5, 2, 2, 0) == (3, 4, False)
    rng = np.random.default_rng(3)
    for _ in range(300):
        k, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 3))
        p = int(rng.integers(0, k // 2 + 1))
        n = int(rng.integers(d * (k - 1) + 1, 30))
        rounded_up, start, dropped = ar.ceil_mode_steps(n, k, s, p, d)
        ref = _torch_shape(lambda k=k, s=s, p=p, d=d: nn.MaxPool2d(k, s, p, d, ceil_mode=True), n, n)[0]
        assert rounded_up - dropped == ref, (n, k, s, p, d)
        assert rounded_up == math.ceil((n + 2 * p - d * (k - 1) - 1) / s + 1)
        assert dropped == (start >= n + p)


# --------------------------------------------------------------------------- transposed convolution, step by step


@pytest.mark.parametrize(
    "args",
    [
        (5, 3, 2, 1, 1, 1),
        (3, 3, 1, 0, 0, 1),
        (4, 3, 2, 0, 1, 1),
        (3, 2, 3, 2, 2, 1),
        (3, 3, 2, 1, 1, 2),
        (2, 1, 3, 0, 2, 1),
    ],
)
def test_transposed_steps_equal_conv_transpose2d(args):
    import torch

    n, k, s, p, op, d = args
    ts = ar.transposed_steps(n, k, s, p, op, d)
    m = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op, dilation=d, bias=False).double()
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(ts.kernel)[None, None])
        want = m(torch.from_numpy(ts.x)[None, None])[0, 0].numpy()
    assert ts.output.shape == want.shape == (ar.transposed_output_size(n, k, s, p, op, d),) * 2
    np.testing.assert_array_equal(ts.output, want)
    assert ts.torch_max_error == 0
    # one frame per input cell, row-major; each adds exactly x[i, j] × kernel at rows i·s + d·(0..k−1)
    assert len(ts.canvases) == n * n
    for t, (canvas, (rows, cols)) in enumerate(zip(ts.canvases, ts.stamps, strict=True)):
        i, j = divmod(t, n)
        assert rows.tolist() == [i * s + d * a for a in range(k)] and cols.tolist() == [j * s + d * a for a in range(k)]
        before = ts.canvases[t - 1] if t else np.zeros_like(canvas)
        added = np.zeros_like(canvas)
        added[np.ix_(rows, cols)] = ts.x[i, j] * ts.kernel
        np.testing.assert_array_equal(canvas - before, added)


def test_transposed_output_padding_reaching_past_the_last_stamp_is_zeros():
    # p = 0, op = 2: the output is two rows/cols longer than any stamp reaches
    ts = ar.transposed_steps(2, 1, 3, 0, 2)
    assert ts.output.shape == (6, 6) and ts.canvas_side == 6
    assert (ts.output[4:] == 0).all() and (ts.output[:, 4:] == 0).all()


def test_transposed_steps_refuse_what_they_cannot_draw():
    assert ar.transposed_too_big(5, 3, 2, 1, 1, 1) == ""
    assert "inputs up to 6×6" in ar.transposed_too_big(7, 3, 2, 1, 1, 1)
    assert "26" in ar.transposed_too_big(6, 7, 8, 0, 0, 1)
    with pytest.raises(InputError, match="inputs up to"):
        ar.transposed_steps(7, 3)
    with pytest.raises(InputError, match="output_padding"):
        ar.transposed_steps(3, 3, 1, 0, 1)


def test_transposed_grid_figure_frames():
    from cnn_demo.images.figures import transposed_grid_figure

    ts = ar.transposed_steps(3, 3, 2, 1, 1)
    fig = transposed_grid_figure(ts)
    assert len(fig.frames) == 9 and [s.label for s in fig.layout.sliders[0].steps][:2] == ["0,0", "0,1"]
    last = fig.frames[-1]
    np.testing.assert_array_equal(last.data[1].z, ts.canvases[-1])
    assert (
        last.layout.title.text
        == "Input (2, 2) = " + f"{ts.x[2, 2]:.3g} adds {ts.x[2, 2]:.3g} × kernel to canvas rows 4–6, cols 4–6"
    )
    outline = fig.layout.shapes[0]  # the output: canvas cells p .. p + n_out − 1
    assert (outline.x0, outline.x1) == (0.5, 0.5 + ts.output_side)
