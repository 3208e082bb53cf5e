"""Pooling as PyTorch computes it, in NumPy, window by window.

* :func:`pool2d` — max / average pooling with kernel, stride, padding, dilation and ceil mode, returning every
  window so a page can highlight it (equal to ``nn.MaxPool2d`` / ``nn.AvgPool2d``);
* :func:`adaptive_windows` / :func:`adaptive_pool1d` / :func:`adaptive_pool2d` — adaptive pooling with PyTorch's
  windows ``[⌊i·L_in/L_out⌋, ⌈(i+1)·L_in/L_out⌉)``;
* :func:`lecture_rule` — the lecture's stride/kernel rule (with upsampling when ``L_out > L_in``), and
  :func:`compare_rule` — where that rule and PyTorch pool different inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cnn_demo.errors import InputError

Kind = Literal["max", "avg"]
MAX_SIZE = 4096

#: The lecture's example input for ``nn.MaxPool2d(kernel_size=2, stride=1)`` (as printed on the slide) …
LECTURE_MATRIX: tuple[tuple[float, ...], ...] = (
    (-1.1195, -2.3749, -0.4088, 0.7293),
    (0.2177, 2.2577, 1.3515, -2.0341),
    (0.2819, 0.7313, 0.3734, -0.6688),
    (-0.3654, 0.5156, -2.4215, 0.4078),
)
#: … and the output printed below it.
LECTURE_MAXPOOL_OUTPUT: tuple[tuple[float, ...], ...] = (
    (2.2577, 2.2577, 1.3515),
    (2.2577, 2.2577, 1.3515),
    (0.7313, 0.7313, 0.4078),
)


def _check_int(label: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{label} must be a whole number of at least {minimum}, not {value!r}.")
    return int(value)


def _check_kind(kind: str) -> str:
    if kind not in ("max", "avg"):
        raise InputError(f'The pooling kind must be "max" or "avg", not {kind!r}.')
    return kind


def _pair(label: str, value: int | tuple[int, int], minimum: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InputError(f"{label} must be one number or a pair (height, width).")
        return _check_int(label, value[0], minimum), _check_int(label, value[1], minimum)
    v = _check_int(label, value, minimum)
    return v, v


# ---- adaptive pooling -----------------------------------------------------------------------------------------


def adaptive_windows(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """The input windows ``[start, end)`` of adaptive pooling, exactly as PyTorch computes them.

    ``start = ⌊i·in/out⌋`` and ``end = ⌈(i+1)·in/out⌉``: windows can differ in size and overlap.
    """
    n = _check_int("The input length", in_size, 1)
    m = _check_int("The output length", out_size, 1)
    if n > MAX_SIZE or m > MAX_SIZE:
        raise InputError(f"Lengths above {MAX_SIZE} are not shown.")
    return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]


def _reduce(values: np.ndarray, kind: str) -> np.ndarray:
    return values.max(axis=-1) if kind == "max" else values.mean(axis=-1)


def adaptive_pool1d(x: np.ndarray | list[float], out_size: int, kind: Kind = "avg") -> np.ndarray:
    """Adaptive average or max pooling over the last axis, equal to ``nn.AdaptiveAvgPool1d`` / ``AdaptiveMaxPool1d``."""
    _check_kind(kind)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise InputError("Pooling needs at least one input value.")
    windows = adaptive_windows(arr.shape[-1], out_size)
    return np.stack([_reduce(arr[..., s:e], kind) for s, e in windows], axis=-1)


def adaptive_pool2d(x: np.ndarray, out_size: int | tuple[int, int], kind: Kind = "avg") -> np.ndarray:
    """Adaptive pooling over the last two axes (rows, then columns), equal to ``nn.AdaptiveAvg/MaxPool2d``."""
    _check_kind(kind)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 2 or 0 in arr.shape[-2:]:
        raise InputError("2-D pooling needs an array of at least one row and one column.")
    oh, ow = _pair("The output size", out_size, 1)
    rows, cols = adaptive_windows(arr.shape[-2], oh), adaptive_windows(arr.shape[-1], ow)
    out = np.empty((*arr.shape[:-2], oh, ow))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            block = arr[..., r0:r1, c0:c1].reshape(*arr.shape[:-2], -1)
            out[..., i, j] = _reduce(block, kind)
    return out


def lecture_rule(in_size: int, out_size: int) -> dict:
    """The lecture's recipe for adaptive pooling.

    If ``out > in`` the input is first upsampled by repeating each value ``⌈out/in⌉`` times; then
    ``stride = ⌊(L − out)/out + 1⌋`` and ``kernel = L − (out − 1)·stride`` on the (upsampled) length ``L``.
    Returns ``upsample``, ``length`` (L), ``stride``, ``kernel``, ``out_size`` (the conv formula's result, which
    equals the requested size) and ``windows`` (``[start, end)`` on the upsampled input).
    """
    n = _check_int("The input length", in_size, 1)
    m = _check_int("The output length", out_size, 1)
    if n > MAX_SIZE or m > MAX_SIZE:
        raise InputError(f"Lengths above {MAX_SIZE} are not shown.")
    upsample = -(-m // n) if m > n else 1
    length = n * upsample
    stride = (length - m) // m + 1
    kernel = length - (m - 1) * stride
    produced = (length - kernel) // stride + 1
    windows = [(i * stride, i * stride + kernel) for i in range(produced)]
    return {
        "upsample": upsample,
        "length": length,
        "stride": stride,
        "kernel": kernel,
        "out_size": produced,
        "windows": windows,
    }


def lecture_pool1d(x: np.ndarray | list[float], out_size: int, kind: Kind = "avg") -> np.ndarray:
    """What the lecture's rule computes: upsample by repetition, then ordinary pooling with its stride and kernel."""
    _check_kind(kind)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise InputError("Pooling needs at least one input value.")
    rule = lecture_rule(arr.shape[-1], out_size)
    up = np.repeat(arr, rule["upsample"], axis=-1)
    return np.stack([_reduce(up[..., s:e], kind) for s, e in rule["windows"]], axis=-1)


def _weights_torch(in_size: int, window: tuple[int, int]) -> np.ndarray:
    w = np.zeros(in_size)
    w[window[0] : window[1]] = 1.0
    return w / w.sum()


def _weights_rule(in_size: int, window: tuple[int, int], upsample: int) -> np.ndarray:
    w = np.zeros(in_size)
    for j in range(*window):
        w[j // upsample] += 1.0
    return w / w.sum()


def compare_rule(in_size: int, out_size: int) -> list[dict]:
    """Per output position: PyTorch's window, the lecture rule's window mapped back to original indices, and
    whether average and max pooling give the same value for every input (same weights / same set of elements).
    """
    torch_windows = adaptive_windows(in_size, out_size)
    rule = lecture_rule(in_size, out_size)
    rows = []
    for i, tw in enumerate(torch_windows):
        rw = rule["windows"][i]
        up = rule["upsample"]
        rule_elems = sorted({j // up for j in range(*rw)})
        wt, wr = _weights_torch(in_size, tw), _weights_rule(in_size, rw, up)
        rows.append(
            {
                "output": i,
                "torch_window": tw,
                "torch_elements": list(range(*tw)),
                "rule_window": rw,
                "rule_elements": rule_elems,
                "same_max": rule_elems == list(range(*tw)),
                "same_avg": bool(np.allclose(wt, wr)),
            }
        )
    return rows


def differing_values(a: np.ndarray, b: np.ndarray) -> list[int]:
    """Output positions where two poolings of the same input give different values (beyond float rounding).

    Different windows can still give the same value on a given input (the same maximum, say), so this is a
    separate question from :func:`compare_rule`'s.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return [int(i) for i in np.flatnonzero(~np.isclose(a, b, rtol=1e-6, atol=1e-6))]


def rule_agrees(in_size: int, out_size: int, kind: Kind = "avg") -> bool:
    """True when the lecture's rule pools exactly like PyTorch for every input of that length."""
    key = "same_max" if _check_kind(kind) == "max" else "same_avg"
    return all(r[key] for r in compare_rule(in_size, out_size))


# ---- ordinary pooling -----------------------------------------------------------------------------------------


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """Output length of PyTorch pooling: ⌊(L + 2p − d(k−1) − 1)/s⌋ + 1 (⌈⌉ in ceil mode, where the last window
    must start inside the input or its left padding)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise InputError(
            f"The window (kernel {kernel}, dilation {dilation}) does not fit the padded input ({size + 2 * padding}), "
            "so there is no output."
        )
    return out


@dataclass(frozen=True)
class PoolWindow:
    """One output cell of 2-D pooling: the input rows and columns it reads (inside the input) and its value."""

    out_row: int
    out_col: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    value: float
    divisor: int


@dataclass(frozen=True)
class PoolResult:
    """2-D pooling of one matrix: the output and every window behind it."""

    output: np.ndarray
    windows: tuple[PoolWindow, ...]

    def window(self, out_row: int, out_col: int) -> PoolWindow:
        """The window that produced output cell (out_row, out_col)."""
        return self.windows[out_row * self.output.shape[1] + out_col]


def pool2d(
    x: np.ndarray,
    kind: Kind = "max",
    kernel_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> PoolResult:
    """Max or average pooling of a 2-D matrix, as ``nn.MaxPool2d`` / ``nn.AvgPool2d`` compute it.

    ``stride`` defaults to the kernel size (PyTorch's default). Padding counts as −∞ for max pooling; for
    average pooling padded zeros count in the divisor when ``count_include_pad`` (PyTorch's default).
    Dilation exists for max pooling only.
    """
    _check_kind(kind)
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or 0 in arr.shape:
        raise InputError("Pooling here works on a 2-D matrix with at least one row and one column.")
    if not np.all(np.isfinite(arr)):
        raise InputError("The matrix must contain only numbers (no blanks, NaN or infinity).")
    kh, kw = _pair("The kernel size", kernel_size, 1)
    sh, sw = _pair("The stride", stride if stride is not None else (kh, kw), 1)
    ph, pw = _pair("The padding", padding, 0)
    dh, dw = _pair("The dilation", dilation, 1)
    if kind == "avg" and (dh, dw) != (1, 1):
        raise InputError("Average pooling has no dilation in PyTorch; use dilation 1.")
    if ph > kh // 2 or pw > kw // 2:
        raise InputError(f"Padding can be at most half the kernel size (here {kh // 2}×{kw // 2}), as in PyTorch.")
    H, W = arr.shape
    oh = pool_output_size(H, kh, sh, ph, dh, ceil_mode)
    ow = pool_output_size(W, kw, sw, pw, dw, ceil_mode)
    windows = []
    out = np.empty((oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - ph, j * sw - pw
            if kind == "max":
                rows = tuple(r for r in range(r0, r0 + dh * (kh - 1) + 1, dh) if 0 <= r < H)
                cols = tuple(c for c in range(c0, c0 + dw * (kw - 1) + 1, dw) if 0 <= c < W)
                value = float(arr[np.ix_(rows, cols)].max()) if rows and cols else -math.inf
                divisor = len(rows) * len(cols)
            else:
                r1, c1 = min(r0 + kh, H + ph), min(c0 + kw, W + pw)
                pool_size = (r1 - r0) * (c1 - c0)
                rows = tuple(range(max(r0, 0), min(r1, H)))
                cols = tuple(range(max(c0, 0), min(c1, W)))
                divisor = pool_size if count_include_pad else len(rows) * len(cols)
                value = float(arr[np.ix_(rows, cols)].sum() / divisor) if rows and cols else 0.0
            out[i, j] = value
            windows.append(PoolWindow(i, j, rows, cols, value, divisor))
    return PoolResult(out, tuple(windows))


def torch_pool2d(
    x: np.ndarray,
    kind: Kind = "max",
    kernel_size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """The same pooling run by PyTorch's ``nn.MaxPool2d`` / ``nn.AvgPool2d``, for checking :func:`pool2d` on a page."""
    import torch
    from torch import nn

    _check_kind(kind)
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)).unsqueeze(0)
    layer: nn.Module
    if kind == "max":
        layer = nn.MaxPool2d(kernel_size, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    else:
        layer = nn.AvgPool2d(kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)
    try:
        with torch.no_grad():
            return layer(t)[0].numpy()
    except RuntimeError as exc:
        raise InputError(f"PyTorch refuses these settings: {str(exc).splitlines()[0]}") from exc


def torch_adaptive_pool1d(x: np.ndarray | list[float], out_size: int, kind: Kind = "avg") -> np.ndarray:
    """PyTorch's own ``nn.AdaptiveAvgPool1d`` / ``nn.AdaptiveMaxPool1d`` on a 1-D sequence (for the page)."""
    import torch
    from torch import nn

    _check_kind(kind)
    _check_int("The output length", out_size, 1)
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, -1)
    layer = nn.AdaptiveMaxPool1d(out_size) if kind == "max" else nn.AdaptiveAvgPool1d(out_size)
    with torch.no_grad():
        return layer(t)[0].numpy()


def parse_values(text: str, limit: int = 64) -> np.ndarray:
    """Numbers typed by a student, separated by commas or spaces ("1, 2, 3")."""
    parts = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
    if not parts:
        raise InputError("Type at least one number, e.g. 1, 2, 3.")
    if len(parts) > limit:
        raise InputError(f"At most {limit} numbers, please (you typed {len(parts)}).")
    try:
        values = np.array([float(p) for p in parts])
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise InputError(f"{bad!r} is not a number. Type numbers separated by commas, e.g. 1, 2, 3.") from None
    if not np.all(np.isfinite(values)):
        raise InputError("Only finite numbers, please (no inf or nan).")
    return values


def parse_matrix(text: str, max_side: int = 12) -> np.ndarray:
    """A small matrix typed one row per line, numbers separated by commas or spaces."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise InputError("Type a matrix: one row per line, numbers separated by spaces or commas.")
    rows = [parse_values(line, limit=max_side) for line in lines]
    if len(rows) > max_side:
        raise InputError(f"At most {max_side} rows, please.")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InputError(f"Every row needs the same number of values; yours have {sorted(widths)}.")
    return np.vstack(rows)


def format_matrix(values: np.ndarray | Sequence[Sequence[float]], digits: int = 6) -> str:
    """The inverse of :func:`parse_matrix`: one row per line."""
    return "\n".join(", ".join(f"{v:.{digits}g}" for v in row) for row in np.asarray(values, dtype=float))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def shift_robustness(image: np.ndarray, kind: Kind = "max", kernel: int = 2, shift: int = 1) -> dict:
    """How much a small horizontal shift changes an image, before and after pooling.

    Returns the mean absolute change of the pixels and of the pooled values (kernel = stride), both on the
    0..255 scale, and their ratio: pooling summarises each window, so small shifts change it less.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    _check_int("The shift", shift, 1)
    _check_int("The kernel", kernel, 1)
    if arr.shape[1] <= shift + kernel:
        raise InputError("The image is too narrow for this shift.")
    a, b = arr[:, shift:], arr[:, :-shift]
    pa = pool2d_fast(a, kind, kernel)
    pb = pool2d_fast(b, kind, kernel)
    raw = float(np.abs(a - b).mean())
    pooled = float(np.abs(pa - pb).mean())
    return {"raw_change": raw, "pooled_change": pooled, "ratio": pooled / raw if raw else 1.0}


def pool2d_fast(image: np.ndarray, kind: Kind = "max", kernel: int = 2) -> np.ndarray:
    """Non-overlapping pooling (stride = kernel, no padding) of a whole image, vectorised; crops the remainder."""
    _check_kind(kind)
    arr = np.asarray(image, dtype=np.float64)
    k = _check_int("The kernel", kernel, 1)
    h, w = arr.shape[0] // k, arr.shape[1] // k
    if h == 0 or w == 0:
        raise InputError(f"The image is smaller than the {k}×{k} pooling window.")
    blocks = arr[: h * k, : w * k].reshape(h, k, w, k, *arr.shape[2:])
    return blocks.max(axis=(1, 3)) if kind == "max" else blocks.mean(axis=(1, 3))
