"""Convolution arithmetic: output sizes, parameter counts and receptive fields, as PyTorch computes them."""

from __future__ import annotations

from cnn_demo.errors import InputError


def conv_params(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True, groups: int = 1
) -> int:
    """Number of learnable parameters of ``nn.Conv2d``: (in/groups)·out·k_h·k_w weights plus ``out`` biases.

    With ``groups=1`` and a square kernel this is the lecture's in·out·k² + out.
    """
    if isinstance(kernel_size, (tuple, list)) and len(kernel_size) == 2:
        kh, kw = kernel_size
    else:
        kh = kw = kernel_size
    values = {"in_channels": in_channels, "out_channels": out_channels, "kernel height": kh, "kernel width": kw}
    for label, v in {**values, "groups": groups}.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InputError(f"{label} must be a whole number of at least 1, not {v!r}.")
    if in_channels % groups or out_channels % groups:
        raise InputError(
            f"groups={groups} must divide both in_channels ({in_channels}) and out_channels ({out_channels})."
        )
    return (in_channels // groups) * out_channels * kh * kw + (out_channels if bias else 0)
