"""Single layers explained: what ``nn.Conv2d`` builds for given settings, checked against PyTorch itself."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.images.arithmetic import conv_params
from cnn_demo.images.windows import ConvWindows


@dataclass(frozen=True)
class ConvReport:
    """An ``nn.Conv2d`` as built by PyTorch: parameter shapes, counts (formula and real) and output shape."""

    code: str
    weight_shape: tuple[int, ...]
    bias_shape: tuple[int, ...] | None
    formula_params: int
    torch_params: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int


def conv2d_report(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
    input_hw: tuple[int, int] = (32, 32),
) -> ConvReport:
    """Build the layer the lecture's ``nn.Conv2d(...)`` call describes and report what PyTorch made of it.

    ``formula_params`` comes from :func:`cnn_demo.images.arithmetic.conv_params` (the lecture's formula, with groups);
    ``torch_params`` is ``sum(p.numel())`` of the real layer; the output shape comes from running the layer on
    an input of ``input_hw`` on the meta device (shapes only, no compute).
    """
    formula = conv_params(in_channels, out_channels, kernel_size, bias=bias, groups=groups)
    for label, v, lo in (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{label} must be a whole number of at least {lo}, not {v!r}.")
    h, w = input_hw
    if min(h, w) < 1:
        raise InputError("The input must be at least 1×1 pixels.")
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, device="meta")
    try:
        out = layer(torch.empty(1, in_channels, h, w, device="meta"))
    except RuntimeError as exc:
        raise InputError(
            f"A {kernel_size}×{kernel_size} kernel with dilation {dilation} does not fit in a {h}×{w} input "
            f"padded by {padding}: {str(exc).splitlines()[0]}"
        ) from exc
    args = [f"in_channels={in_channels}", f"out_channels={out_channels}", f"kernel_size={kernel_size}"]
    for name, value, default in (
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
        ("groups", groups, 1),
        ("bias", bias, True),
    ):
        if value != default:
            args.append(f"{name}={value}")
    macs = out.numel() * (in_channels // groups) * kernel_size * kernel_size
    return ConvReport(
        code=f"nn.Conv2d({', '.join(args)})",
        weight_shape=tuple(layer.weight.shape),
        bias_shape=tuple(layer.bias.shape) if layer.bias is not None else None,
        formula_params=formula,
        torch_params=sum(p.numel() for p in layer.parameters()),
        input_shape=(1, in_channels, h, w),
        output_shape=tuple(out.shape),
        macs=int(macs),
    )


@dataclass(frozen=True)
class ConvMotivation:
    """The lecture's reasons for convolution, in numbers, for one layer and input size.

    ``dense_params``: a fully connected layer mapping the same input to the same output size;
    ``inputs_per_output``: how many input values one output reads (conv) versus all of them (dense);
    ``unfold_shape``/``weight_matrix_shape``: convolution written as one matrix product (im2col), whose result
    differs from ``F.conv2d`` by ``matmul_max_error``; ``shift_max_error``: shifting the input by ``shift`` pixels
    shifts the output by ``shift / stride`` (translation equivariance), checked away from the borders.
    """

    conv_params: int
    dense_params: int
    inputs_per_output: int
    dense_inputs_per_output: int
    unfold_shape: tuple[int, ...]
    weight_matrix_shape: tuple[int, ...]
    matmul_max_error: float | None
    shift: int
    shift_max_error: float | None
    checked_on: tuple[int, ...] | None


def _im2col_error(
    layer: nn.Conv2d, x: torch.Tensor, y: torch.Tensor, kernel_size: int, stride: int, padding: int, dilation: int
) -> tuple[float, tuple[int, ...]]:
    """Convolution as one matrix product per group (im2col: every receptive field becomes a column): the largest
    difference from the layer's output ``y``, and the shape of the unfolded input."""
    import torch.nn.functional as F

    cols = F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)
    groups, k2 = layer.groups, kernel_size * kernel_size
    cin, cout = layer.in_channels // groups, layer.out_channels // groups
    outs = []
    for g in range(groups):
        wg = layer.weight[g * cout : (g + 1) * cout].reshape(cout, cin * k2)
        outs.append(wg @ cols[0, g * cin * k2 : (g + 1) * cin * k2])
    z = torch.cat(outs).reshape(layer.out_channels, y.shape[2], y.shape[3])
    if layer.bias is not None:
        z = z + layer.bias.view(-1, 1, 1)
    return float((z - y[0]).abs().max()), tuple(cols.shape[1:])


def _shift_error(
    layer: nn.Conv2d, x: torch.Tensor, y: torch.Tensor, kernel_size: int, stride: int, padding: int, dilation: int
) -> float:
    """Translation equivariance: shift the input ``stride`` pixels to the right, and the largest difference between
    the output and ``y`` shifted one cell, away from the borders the shift and the padding reach."""
    shift = stride
    xs = torch.zeros_like(x)
    xs[..., shift:] = x[..., :-shift] if x.shape[-1] > shift else 0
    ys = layer(xs)
    margin = -(-(padding + dilation * (kernel_size - 1) + shift) // stride) + 1
    a = ys[..., margin : -margin or None, margin + 1 : -margin or None]
    b = y[..., margin : -margin or None, margin : (-margin - 1) or None]
    return float((a - b).abs().max()) if a.numel() and a.shape == b.shape else 0.0


def conv_motivation(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
    input_hw: tuple[int, int] = (32, 32),
    seed: int = 0,
) -> ConvMotivation:
    """Parameter sharing, sparse connections, convolution as a matrix product and translation equivariance.

    The numeric checks run on a random input of the requested channels, capped at 48×48 pixels, and are skipped
    (errors None) for layers over 2 million parameters; the parameter counts always use the full size.
    """
    report = conv2d_report(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, input_hw)
    _, _, oh, ow = report.output_shape
    h, w = input_hw
    dense = in_channels * h * w * out_channels * oh * ow + (out_channels * oh * ow if bias else 0)
    cin_k2 = in_channels // groups * kernel_size * kernel_size
    counted = ConvMotivation(
        conv_params=report.torch_params,
        dense_params=int(dense),
        inputs_per_output=cin_k2,
        dense_inputs_per_output=in_channels * h * w,
        unfold_shape=(cin_k2 * groups, oh * ow),
        weight_matrix_shape=(out_channels, cin_k2),
        matmul_max_error=None,
        shift=stride,
        shift_max_error=None,
        checked_on=None,
    )
    if report.torch_params > 2_000_000:
        return counted
    gen = torch.Generator().manual_seed(seed)
    ch, hh, ww = in_channels, min(h, 48), min(w, 48)
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        x = torch.randn(1, ch, hh, ww, generator=gen, dtype=torch.float32)
        try:
            y = layer(x)
        except RuntimeError as exc:
            raise InputError(f"These settings do not fit a {hh}×{ww} input: {str(exc).splitlines()[0]}") from exc
        matmul_err, unfold_shape = _im2col_error(layer, x, y, kernel_size, stride, padding, dilation)
        shift_err = _shift_error(layer, x, y, kernel_size, stride, padding, dilation)
    return replace(
        counted,
        unfold_shape=unfold_shape,
        matmul_max_error=matmul_err,
        shift_max_error=shift_err,
        checked_on=(1, ch, hh, ww),
    )


#: The traced example: at most this many input channels and input cells a side (before padding).
EXAMPLE_CHANNELS = 3
EXAMPLE_SIDE = 7
EXAMPLE_MAX_PADDED = 18


@dataclass(frozen=True)
class ConvExample:
    """One filter of a layer on a small integer input, for tracing output cells back to their windows.

    ``windows`` is the computation laid out cell by cell; ``torch_output`` is what ``F.conv2d`` gives for the same
    numbers (the page shows they agree); ``code`` builds that input and filter in PyTorch.
    """

    windows: ConvWindows
    torch_output: np.ndarray = field(compare=False)
    code: str


def conv_example(
    in_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
    input_hw: tuple[int, int] = (32, 32),
    seed: int = 0,
) -> ConvExample | None:
    """Filter 0 of ``nn.Conv2d`` with these settings on a small input of whole numbers (0..9, weights −2..2).

    Filter 0 reads ``in_channels / groups`` channels; the example keeps at most :data:`EXAMPLE_CHANNELS` of them
    and :data:`EXAMPLE_SIDE` cells a side (more when the kernel needs it), so every number can be written in its
    cell. Returns None when the padded example would exceed :data:`EXAMPLE_MAX_PADDED` cells a side.
    """
    import torch.nn.functional as F

    cin = max(1, min(in_channels // max(groups, 1), EXAMPLE_CHANNELS))
    reach = dilation * (kernel_size - 1) + 1 - 2 * padding  # the smallest input the kernel fits
    hh = min(input_hw[0], max(EXAMPLE_SIDE, reach))
    ww = min(input_hw[1], max(EXAMPLE_SIDE, reach))
    if max(hh, ww) + 2 * padding > EXAMPLE_MAX_PADDED or min(hh, ww) + 2 * padding < reach + 2 * padding:
        return None
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, (cin, hh, ww)).astype(np.float64)
    w = rng.integers(-2, 3, (cin, kernel_size, kernel_size)).astype(np.float64)
    b = float(rng.integers(-3, 4)) if bias else 0.0
    with torch.no_grad():
        y = F.conv2d(
            torch.from_numpy(x)[None],
            torch.from_numpy(w)[None],
            torch.tensor([b], dtype=torch.float64),
            stride=stride,
            padding=padding,
            dilation=dilation,
        )[0, 0].numpy()
    windows = ConvWindows(
        inputs=np.pad(x, ((0, 0), (padding, padding), (padding, padding))),
        weights=w,
        in_rows=np.arange(-padding, hh + padding),
        in_cols=np.arange(-padding, ww + padding),
        out_rows=np.arange(y.shape[0]),
        out_cols=np.arange(y.shape[1]),
        image_shape=(hh, ww),
        stride=(stride, stride),
        dilation=(dilation, dilation),
        bias=b,
    )
    code = (
        f"x = torch.tensor({x.astype(int).tolist()}, dtype=torch.float64)[None]  # (1, {cin}, {hh}, {ww})\n"
        f"w = torch.tensor({w.astype(int).tolist()}, dtype=torch.float64)[None]  # (1, {cin}, {kernel_size}, "
        f"{kernel_size})\n"
        f"y = F.conv2d(x, w, torch.tensor([{b:g}], dtype=torch.float64), stride={stride}, padding={padding}, "
        f"dilation={dilation})"
    )
    return ConvExample(windows, y.copy(), code)
