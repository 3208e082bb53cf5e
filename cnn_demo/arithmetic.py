"""Convolution arithmetic: output sizes, parameter counts and receptive fields, as PyTorch computes them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def _pair(value: IntOrPair, name: str, minimum: int) -> Pair:
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
    return values  # type: ignore[return-value]


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
    sizes = _pair(size, "The input size", 1)
    ks = _pair(kernel, "The kernel size", 1)
    ss = _pair(stride, "The stride", 1)
    ds = _pair(dilation, "The dilation", 1)
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
    ps = _pair(padding, "The padding", 0)
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
    sizes = _pair(size, "The input size", 1)
    ks = _pair(kernel, "The kernel size", 1)
    ss = _pair(stride, "The stride", 1)
    ps = _pair(padding, "The padding", 0)
    ops = _pair(output_padding, "The output padding", 0)
    ds = _pair(dilation, "The dilation", 1)
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
    return [[o * stride - padding + j * dilation for j in range(kernel)] for o in range(int(n_out))]


def window_cells(
    size: Pair, kernel: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1
) -> dict[Pair, list[Pair]]:
    """For each output cell (row, col) of a 2-D convolution, the (row, col) input cells its kernel reads.

    Coordinates are in the unpadded input, so negative or too-large ones are padding cells.
    """
    h, w = _pair(size, "The input size", 1)
    kh, kw = _pair(kernel, "The kernel size", 1)
    sh, sw = _pair(stride, "The stride", 1)
    ph, pw = _pair(padding, "The padding", 0)
    dh, dw = _pair(dilation, "The dilation", 1)
    rows = axis_windows(h, kh, sh, ph, dh)
    cols = axis_windows(w, kw, sw, pw, dw)
    return {(i, j): [(r, c) for r in rr for c in cc] for i, rr in enumerate(rows) for j, cc in enumerate(cols)}


# ------------------------------------------------------------------------------------------ PyTorch proof


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

    h, w = _pair(size, "The input size", 1)
    kh, kw = _pair(kernel, "The kernel size", 1)
    if h * w > 4096 * 4096:
        raise InputError("Keep the input at most 4096×4096 for this demonstration.")
    per_output = kh * kw * (in_channels * out_channels if layer == "conv" else in_channels)
    device = "cpu" if h * w * per_output <= MAX_REAL_MACS else "meta"
    try:
        if layer == "pool":
            m = nn.MaxPool2d(kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
        else:
            m = nn.Conv2d(
                in_channels, out_channels, kernel, stride=stride, padding=padding, dilation=dilation, device=device
            )
        x = torch.zeros(1, in_channels, h, w, device=device)
        with torch.no_grad():
            y = m(x)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"PyTorch refuses these settings: {str(exc).splitlines()[0]}") from exc
    return LayerRun(tuple(x.shape), tuple(y.shape), device)


# --------------------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class Layer:
    """One layer of a stack, for the receptive-field table (square kernels, one value per setting)."""

    name: str
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    kind: str = "conv"  # "conv" or "pool": only the output-size rules differ


@dataclass(frozen=True)
class ReceptiveField:
    """After a layer: how many input pixels one output unit sees (``size``), how far apart neighbouring units'
    centres are in input pixels (``jump``), and the input coordinate where the first unit's window is centred
    (``start``; pixel 0 is at 0, padding shifts it)."""

    name: str
    size: int
    jump: int
    start: float


def receptive_field(layers: Sequence[Layer | dict | tuple]) -> list[ReceptiveField]:
    """Receptive field after each layer of a stack, by the recurrence r ← r + (d(k−1))·j, j ← j·s.

    ``layers`` are :class:`Layer` objects, dicts with the same keys, or (kernel, stride[, padding[, dilation]])
    tuples. The receptive field grows by (effective kernel − 1) times the product of the earlier strides, so
    strides early in a network make later layers see much more of the image.
    """
    if not layers:
        raise InputError("Add at least one layer to the table.")
    rows: list[ReceptiveField] = []
    size, jump, start = 1, 1, 0.0
    for i, raw in enumerate(layers, start=1):
        layer = _as_layer(raw, i)
        effective = layer.dilation * (layer.kernel - 1) + 1
        size += (effective - 1) * jump
        start += ((effective - 1) / 2 - layer.padding) * jump
        jump *= layer.stride
        rows.append(ReceptiveField(layer.name, size, jump, start))
    return rows


def _as_layer(raw: Layer | dict | tuple, index: int) -> Layer:
    if isinstance(raw, Layer):
        layer = raw
    elif isinstance(raw, dict):
        known = {"name", "kernel", "stride", "padding", "dilation", "kind"}
        values = {k: v for k, v in raw.items() if k in known and v is not None and v == v}  # drop NaN cells
        values.setdefault("name", f"layer {index}")
        if "kernel" not in values:
            raise InputError(f"Layer {index} has no kernel size.")
        try:
            layer = Layer(**{k: (str(v) if k in ("name", "kind") else _whole(v, k, index)) for k, v in values.items()})
        except TypeError as exc:
            raise InputError(f"Layer {index} is incomplete.") from exc
    elif isinstance(raw, (tuple, list)) and 1 <= len(raw) <= 4:
        layer = Layer(f"layer {index}", *(_whole(v, "setting", index) for v in raw))
    else:
        raise InputError(f"Layer {index} must give a kernel size, stride, padding and dilation.")
    if layer.kind not in ("conv", "pool"):
        raise InputError(f"Layer {index} ({layer.name}): kind must be 'conv' or 'pool', not {layer.kind!r}.")
    for name, minimum in (("kernel", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        v = getattr(layer, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise InputError(f"Layer {index} ({layer.name}): {name} must be a whole number ≥ {minimum}, not {v!r}.")
    return layer


def _whole(value: object, name: str, index: int) -> int:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"Layer {index}: {name} must be a whole number, not {value!r}.") from exc
    if not math.isfinite(f) or f != int(f):
        raise InputError(f"Layer {index}: {name} must be a whole number, not {value!r}.")
    return int(f)


def stack_sizes(size: int, layers: Sequence[Layer | dict | tuple]) -> list[int]:
    """The (square) feature-map size after each layer of a stack for a ``size``×``size`` input.

    Raises :class:`InputError` naming the first layer PyTorch would refuse (e.g. the map became too small).
    """
    sizes = []
    current = size
    for i, raw in enumerate(layers, start=1):
        layer = _as_layer(raw, i)
        try:
            current = int(
                conv_output_size(current, layer.kernel, layer.stride, layer.padding, layer.dilation, layer=layer.kind)
            )
        except InputError as exc:
            raise InputError(f"Layer {i} ({layer.name}) on a {current}×{current} input: {exc}") from exc
        sizes.append(current)
    return sizes


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

    h, w = _pair(size, "The input size", 1)
    if h * w > 1024 * 1024:
        raise InputError("Keep the input at most 1024×1024 for this demonstration.")
    line = (
        f"nn.ConvTranspose2d(1, 1, kernel_size={kernel}, stride={stride}, padding={padding}, "
        f"output_padding={output_padding}, dilation={dilation})"
    )
    try:
        m = nn.ConvTranspose2d(
            1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation
        )
        with torch.no_grad():
            y = m(torch.zeros(1, 1, h, w))
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"PyTorch refuses these settings: {str(exc).splitlines()[0]}") from exc
    return line, tuple(y.shape)


# ------------------------------------------------------------------------------- transposed convolution, animated

#: The step-by-step transposed convolution is drawn for inputs up to this many cells a side.
TRANSPOSED_MAX_INPUT = 6
#: ... and for canvases (the uncropped output) up to this many cells a side.
TRANSPOSED_MAX_CANVAS = 26


@dataclass(frozen=True)
class TransposedSteps:
    """``nn.ConvTranspose2d`` done by hand, one input cell at a time (vdumoulin's conv_arithmetic animations).

    Each input cell x[i, j] scatters x[i, j] × kernel onto a canvas at rows i·stride + dilation·(0..kh−1) (and
    the same for columns); the canvas adds up the overlaps. ``canvases[t]`` is the canvas after the first t + 1
    input cells (row-major), ``stamps[t]`` the canvas cells that cell wrote. The output is the canvas with
    ``padding`` cells cut off on every side and ``output_padding`` cells added at the bottom and right (zeros where
    no kernel reaches). ``torch_output`` is ``nn.ConvTranspose2d``'s answer for the same numbers.
    """

    x: np.ndarray
    kernel: np.ndarray
    stride: int
    padding: int
    output_padding: int
    dilation: int
    canvases: tuple[np.ndarray, ...]
    stamps: tuple[tuple[np.ndarray, np.ndarray], ...]
    output: np.ndarray
    torch_output: np.ndarray

    @property
    def canvas_side(self) -> int:
        return int(self.canvases[-1].shape[0])

    @property
    def output_side(self) -> int:
        return int(self.output.shape[0])

    @property
    def torch_max_error(self) -> float:
        """Largest difference between this hand-made output and ``nn.ConvTranspose2d``'s."""
        return float(np.abs(self.output - self.torch_output).max())


def transposed_too_big(size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int) -> str:
    """Why :func:`transposed_steps` would not draw these (valid) settings, or "" when it will."""
    n_out = int(transposed_output_size(size, kernel, stride, padding, output_padding, dilation))
    if size > TRANSPOSED_MAX_INPUT:
        return f"The step-by-step drawing takes inputs up to {TRANSPOSED_MAX_INPUT}×{TRANSPOSED_MAX_INPUT}."
    side = max((size - 1) * stride + dilation * (kernel - 1) + 1, padding + n_out)
    if side > TRANSPOSED_MAX_CANVAS:
        return f"The uncropped output would be {side} cells a side; the drawing shows up to {TRANSPOSED_MAX_CANVAS}."
    return ""


def transposed_steps(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1, seed: int = 0
) -> TransposedSteps:
    """A square transposed convolution on small whole numbers (input 1..3, kernel 0..2), one input cell per step.

    Raises :class:`InputError` for settings PyTorch refuses and for sizes too large to draw.
    """
    import torch
    from torch import nn

    reason = transposed_too_big(size, kernel, stride, padding, output_padding, dilation)
    if reason:
        raise InputError(reason)
    n_out = int(transposed_output_size(size, kernel, stride, padding, output_padding, dilation))
    reach = (size - 1) * stride + dilation * (kernel - 1) + 1  # canvas cells the kernel stamps reach
    side = max(reach, padding + n_out)  # output_padding may reach past the last stamp
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 4, (size, size)).astype(np.float64)
    w = rng.integers(0, 3, (kernel, kernel)).astype(np.float64)
    canvas = np.zeros((side, side))
    canvases, stamps = [], []
    taps = dilation * np.arange(kernel)
    for i in range(size):
        for j in range(size):
            rows, cols = i * stride + taps, j * stride + taps
            canvas[np.ix_(rows, cols)] += x[i, j] * w
            canvases.append(canvas.copy())
            stamps.append((rows, cols))
    output = canvas[padding : padding + n_out, padding : padding + n_out].copy()
    m = nn.ConvTranspose2d(
        1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, bias=False
    ).double()
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w)[None, None])
        y = m(torch.from_numpy(x)[None, None])[0, 0].numpy().copy()
    return TransposedSteps(x, w, stride, padding, output_padding, dilation, tuple(canvases), tuple(stamps), output, y)
