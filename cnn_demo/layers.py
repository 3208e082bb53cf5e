"""Single layers explained: what ``nn.Conv2d`` builds for given settings, checked against PyTorch itself."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnn_demo.arithmetic import conv_params
from cnn_demo.errors import InputError


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

    ``formula_params`` comes from :func:`cnn_demo.arithmetic.conv_params` (the lecture's formula, with groups);
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
