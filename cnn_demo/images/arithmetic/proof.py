"""The same layer run on PyTorch (the meta device for big ones) to prove the formula, and its code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from cnn_demo.errors import InputError
from cnn_demo.images.arithmetic.sizes import IntOrPair, Pair, as_pair

# ------------------------------------------------------------------------------------------ PyTorch proof


def _t(value: IntOrPair) -> int | tuple[int, int]:
    """A setting as torch's layers type it (a list becomes a tuple)."""
    return value if isinstance(value, int) else cast("tuple[int, int]", tuple(value))


def layer_code(
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    *,
    layer: str = "conv",
    in_channels: int = 3,
    out_channels: int = 8,
) -> str:
    """The ``nn.Conv2d(...)`` (or ``nn.MaxPool2d(...)``) line for these settings, as one would type it."""

    def fmt(v: IntOrPair) -> str:
        if isinstance(v, (tuple, list)):
            return str(v[0]) if v[0] == v[1] else f"({v[0]}, {v[1]})"
        return str(v)

    if layer == "pool":
        args = [f"kernel_size={fmt(kernel)}", f"stride={fmt(stride)}", f"padding={fmt(padding)}"]
        args += [f"dilation={fmt(dilation)}", f"ceil_mode={ceil_mode}"]
        return f"nn.MaxPool2d({', '.join(args)})"
    args = [f"in_channels={in_channels}", f"out_channels={out_channels}", f"kernel_size={fmt(kernel)}"]
    args += [f"stride={fmt(stride)}", f"padding={fmt(padding)}", f"dilation={fmt(dilation)}"]
    return f"nn.Conv2d({', '.join(args)})"


#: Above this many multiply-adds the shape proof runs on PyTorch's "meta" device (shapes only, no arithmetic).
MAX_REAL_MACS = 200_000_000


@dataclass(frozen=True)
class LayerRun:
    """The result of running a layer on a tensor of zeros: the shapes, and the device it ran on."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    device: str  # "cpu": computed for real; "meta": PyTorch's shape logic only (large inputs)


def run_layer(
    size: Pair,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    *,
    layer: str = "conv",
    in_channels: int = 3,
    out_channels: int = 8,
) -> LayerRun:
    """Build the real PyTorch layer and run it on a zero tensor of shape (1, C, H, W) to prove the output size.

    Small cases compute for real on the CPU; when that would take more than :data:`MAX_REAL_MACS`
    multiply-adds (a 4096² input with a 64² kernel would stall the server) the same layer runs on the
    ``meta`` device, which applies PyTorch's own shape checks without the arithmetic. PyTorch's refusals
    come back as :class:`InputError`.
    """
    import torch
    from torch import nn

    h, w = as_pair(size, "The input size", 1)
    kh, kw = as_pair(kernel, "The kernel size", 1)
    if h * w > 4096 * 4096:
        raise InputError("Keep the input at most 4096×4096 for this demonstration.")
    per_output = kh * kw * (in_channels * out_channels if layer == "conv" else in_channels)
    device = "cpu" if h * w * per_output <= MAX_REAL_MACS else "meta"
    try:
        m: nn.Module
        if layer == "pool":
            m = nn.MaxPool2d(
                _t(kernel), stride=_t(stride), padding=_t(padding), dilation=_t(dilation), ceil_mode=ceil_mode
            )
        else:
            m = nn.Conv2d(
                in_channels,
                out_channels,
                _t(kernel),
                stride=_t(stride),
                padding=_t(padding),
                dilation=_t(dilation),
                device=device,
            )
        x = torch.zeros(1, in_channels, h, w, device=device)
        with torch.no_grad():
            y = m(x)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"PyTorch refuses these settings: {str(exc).splitlines()[0]}") from exc
    return LayerRun(tuple(x.shape), tuple(y.shape), device)


def run_transposed(
    size: Pair,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> tuple[str, tuple[int, ...]]:
    """Run a real ``nn.ConvTranspose2d(1, 1, ...)`` on a (1, 1, H, W) tensor; return its code line and output shape."""
    import torch
    from torch import nn

    h, w = as_pair(size, "The input size", 1)
    if h * w > 1024 * 1024:
        raise InputError("Keep the input at most 1024×1024 for this demonstration.")
    line = (
        f"nn.ConvTranspose2d(1, 1, kernel_size={kernel}, stride={stride}, padding={padding}, "
        f"output_padding={output_padding}, dilation={dilation})"
    )
    try:
        m = nn.ConvTranspose2d(
            1,
            1,
            _t(kernel),
            stride=_t(stride),
            padding=_t(padding),
            output_padding=_t(output_padding),
            dilation=_t(dilation),
        )
        with torch.no_grad():
            y = m(torch.zeros(1, 1, h, w))
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"PyTorch refuses these settings: {str(exc).splitlines()[0]}") from exc
    return line, tuple(y.shape)
