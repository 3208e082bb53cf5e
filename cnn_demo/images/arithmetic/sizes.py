"""Output sizes of convolutions and pooling: the lecture's formula per axis, ceil mode, the windows read."""

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


# ------------------------------------------------------------------------------------------ output sizes

Pair = tuple[int, int]


IntOrPair = int | tuple[int, ...] | list[int]


def as_pair(value: IntOrPair, name: str, minimum: int) -> Pair:
    """An int or a per-axis (h, w) pair as two ints ≥ ``minimum``, or an :class:`InputError`."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2:
        raise InputError(f"{name} must be one number or a pair (height, width), got {value!r}.")
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool):
            raise InputError(f"{name} must be a whole number, not {v!r}.")
        if v < minimum:
            need = "positive" if minimum == 1 else f"at least {minimum}"
            raise InputError(f"{name} must be {need}, got {v}.")
    return values


def _unpair(result: Pair, like: IntOrPair) -> int | Pair:
    return result if isinstance(like, (tuple, list)) else result[0]


def _axis_output(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """The lecture's formula ⌊(L + 2p − d(k−1) − 1)/s + 1⌋, with PyTorch's ceil-mode rule."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        rounded_up, _, dropped = ceil_mode_steps(size, k, s, p, d)
        return rounded_up - dropped
    return span // s + 1


def ceil_mode_steps(size: int, kernel: int, stride: int, padding: int = 0, dilation: int = 1) -> tuple[int, int, bool]:
    """PyTorch's ceil-mode output size of one axis, in two steps: the rounded-up formula, then its exception.

    Returns ``(rounded_up, last_start, dropped)``: ⌈(L + 2p − d(k−1) − 1)/s⌉ + 1, the position in the padded
    input where that many windows' last one starts, ``(rounded_up − 1)·s``, and whether PyTorch drops that window
    because it starts in the right-hand padding (``last_start ≥ p + L``). The output size is ``rounded_up −
    dropped``: ``MaxPool2d(2, 2, padding=1, ceil_mode=True)`` on 5 gives ⌈3.5⌉ = 4, but the 4th window would start
    at 6, where the right padding begins, so 3.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    rounded_up = -(-span // stride) + 1
    last_start = (rounded_up - 1) * stride
    return rounded_up, last_start, last_start >= size + padding


def conv_output_size(
    size: IntOrPair,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    *,
    layer: str | None = None,
) -> int | Pair:
    """Output size of ``nn.Conv2d`` (``layer="conv"``) or ``nn.MaxPool2d`` / ``AvgPool2d`` (``layer="pool"``).

    L_out = ⌊(L_in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1⌋ per axis (⌈·⌉ with ``ceil_mode``).
    Arguments are ints or per-axis ``(height, width)`` pairs; the result has the shape of ``size``.
    ``layer`` defaults to ``"pool"`` when ``ceil_mode`` is set (only pooling has it), else ``"conv"``;
    ``padding`` may be ``"valid"`` or ``"same"`` for a convolution. Raises :class:`InputError` wherever
    PyTorch refuses: the dilated kernel larger than the padded input, an empty output, pooling padding
    over half the kernel, ``padding="same"`` with a stride.
    """
    layer = layer or ("pool" if ceil_mode else "conv")
    if layer not in ("conv", "pool"):
        raise InputError(f"layer must be 'conv' or 'pool', not {layer!r}.")
    if ceil_mode and layer == "conv":
        raise InputError("nn.Conv2d has no ceil_mode: the output size of a convolution is always rounded down.")
    sizes = as_pair(size, "The input size", 1)
    ks = as_pair(kernel, "The kernel size", 1)
    ss = as_pair(stride, "The stride", 1)
    ds = as_pair(dilation, "The dilation", 1)
    if isinstance(padding, str):
        if layer == "pool":
            raise InputError("Pooling layers take a number as padding, not 'same' or 'valid'.")
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if ss != (1, 1):
                raise InputError("padding='same' is not supported for strided convolutions (PyTorch refuses it).")
            return _unpair(sizes, size)
        else:
            raise InputError(f"padding must be a number, a pair, 'valid' or 'same', not {padding!r}.")
    ps = as_pair(padding, "The padding", 0)
    out = []
    for axis, name in enumerate(("height", "width")):
        n, k, s, p, d = sizes[axis], ks[axis], ss[axis], ps[axis], ds[axis]
        effective = d * (k - 1) + 1
        if layer == "pool" and p > k // 2:
            raise InputError(
                f"Pooling padding must be at most half the kernel size: padding {p} > {k}//2 = {k // 2} ({name})."
            )
        too_big = effective > n + 2 * p
        if too_big and (layer == "conv" or _axis_output(n, k, s, p, d, ceil_mode) < 1):
            dil = f" (dilated to {effective})" if d > 1 else ""
            raise InputError(
                f"The kernel{dil} is larger than the padded input in {name}: {effective} > {n} + 2·{p} = {n + 2 * p}. "
                "Use a smaller kernel or dilation, or more padding."
            )
        o = _axis_output(n, k, s, p, d, ceil_mode)
        if o < 1:
            raise InputError(f"The output {name} would be {o}: the input is too small for these settings.")
        out.append(o)
    return _unpair((out[0], out[1]), size)


def transposed_output_size(
    size: IntOrPair,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> int | Pair:
    """Output size of ``nn.ConvTranspose2d``.

    L_out = (L_in − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1 per axis.

    A transposed convolution goes back from a convolution's output size to its input size (used to
    upsample in segmentation and generative models). Raises :class:`InputError` where PyTorch refuses, and
    also for an empty (0-pixel) output, which PyTorch returns silently for some settings.
    """
    sizes = as_pair(size, "The input size", 1)
    ks = as_pair(kernel, "The kernel size", 1)
    ss = as_pair(stride, "The stride", 1)
    ps = as_pair(padding, "The padding", 0)
    ops = as_pair(output_padding, "The output padding", 0)
    ds = as_pair(dilation, "The dilation", 1)
    out = []
    for axis, name in enumerate(("height", "width")):
        n, k, s, p, op, d = sizes[axis], ks[axis], ss[axis], ps[axis], ops[axis], ds[axis]
        if op >= s and op >= d:
            raise InputError(
                f"output_padding ({op}) must be smaller than the stride ({s}) or the dilation ({d}) ({name})."
            )
        o = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        if o < 1:
            raise InputError(f"The output {name} would be {o}: the padding is too large for this input.")
        out.append(o)
    return _unpair((out[0], out[1]), size)


def axis_windows(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> list[list[int]]:
    """For each output position along one axis, the input indices its kernel reads (−1 or ≥ size: padding)."""
    n_out = conv_output_size(size, kernel, stride, padding, dilation)
    assert isinstance(n_out, int)  # int arguments give an int
    return [[o * stride - padding + j * dilation for j in range(kernel)] for o in range(n_out)]


def window_cells(
    size: Pair, kernel: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1
) -> dict[Pair, list[Pair]]:
    """For each output cell (row, col) of a 2-D convolution, the (row, col) input cells its kernel reads.

    Coordinates are in the unpadded input, so negative or too-large ones are padding cells.
    """
    h, w = as_pair(size, "The input size", 1)
    kh, kw = as_pair(kernel, "The kernel size", 1)
    sh, sw = as_pair(stride, "The stride", 1)
    ph, pw = as_pair(padding, "The padding", 0)
    dh, dw = as_pair(dilation, "The dilation", 1)
    rows = axis_windows(h, kh, sh, ph, dh)
    cols = axis_windows(w, kw, sw, pw, dw)
    return {(i, j): [(r, c) for r in rr for c in cc] for i, rr in enumerate(rows) for j, cc in enumerate(cols)}
