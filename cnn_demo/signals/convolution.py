"""1-D convolution step by step: output lengths, the written sums, PyTorch's conv1d, the frequency view."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.signals.checks import as_signal, check_choice, format_factor, format_number

#: Output-length modes of :func:`convolve`, as in ``numpy.convolve``.
MODES: tuple[str, ...] = ("full", "same", "valid")


# --------------------------------------------------------------------------------------------- convolution


def output_length(len_f: int, len_g: int, mode: str = "full") -> int:
    """Length of ``convolve(f, g, mode)``: full L+M−1, same max(L, M), valid max(L, M) − min(L, M) + 1."""
    check_choice(mode, MODES)
    if mode == "full":
        return len_f + len_g - 1
    if mode == "same":
        return max(len_f, len_g)
    return max(len_f, len_g) - min(len_f, len_g) + 1


def convolve(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray, mode: str = "full") -> np.ndarray:
    """The discrete convolution ``(f * g)(t) = Σ_τ f(τ) g(t − τ)``; equals ``numpy.convolve(f, g, mode)``.

    ``full`` keeps every t where the sum can be non-zero (L+M−1 values), ``same`` the centred max(L, M) values,
    ``valid`` only the positions where the shorter sequence lies completely inside the longer one.
    """
    check_choice(mode, MODES)
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    return np.convolve(a, b, mode=mode)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ConvolutionStep:
    """One output of the full convolution: ``value = Σ f_tau · g_t_minus_tau`` over ``terms``.

    ``terms`` holds ``(tau, f_tau, g_t_minus_tau)`` for every τ where f is defined; ``g_t_minus_tau`` is 0 where
    ``t − τ`` falls outside g, exactly as the lecture writes ``g(−1) = 0``.
    """

    t: int
    terms: tuple[tuple[int, float, float], ...]
    value: float
    g_length: int


def convolution_step(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray, t: int) -> ConvolutionStep:
    """The record of output index ``t`` (0 ≤ t ≤ L+M−2) of the full convolution."""
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    last = a.size + b.size - 2
    if not 0 <= int(t) <= last:
        raise InputError(f"t must be between 0 and {last} (the full convolution has {last + 1} values), not {t}.")
    t = int(t)
    terms = []
    for tau in range(a.size):
        j = t - tau
        g_val = float(b[j]) if 0 <= j < b.size else 0.0
        terms.append((tau, float(a[tau]), g_val))
    value = float(sum(ft * gt for _, ft, gt in terms))
    return ConvolutionStep(t, tuple(terms), value, int(b.size))


def convolution_steps(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray) -> list[ConvolutionStep]:
    """One :class:`ConvolutionStep` per output index t of the full convolution, in order."""
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    return [convolution_step(a, b, t) for t in range(a.size + b.size - 1)]


def written_sum(step: ConvolutionStep, overlap_only: bool = False) -> str:
    """The step written as the slide writes it, e.g.
    ``(f*g)(2) = f(0)g(2) + f(1)g(1) + f(2)g(0) + f(3)g(-1) = 1×1 + 2×1 + 3×1 + 4×0 = 6``.

    ``overlap_only`` keeps only the terms where g is defined (for long signals, where the zero terms would fill
    the screen).
    """
    terms = step.terms
    if overlap_only:
        terms = tuple(term for term in terms if 0 <= step.t - term[0] < step.g_length) or terms
    symbols = " + ".join(f"f({tau})g({step.t - tau})" for tau, _, _ in terms)
    products = " + ".join(f"{format_factor(ft)}×{format_factor(gt)}" for _, ft, gt in terms)
    return f"(f*g)({step.t}) = {symbols} = {products} = {format_number(step.value)}"


def torch_conv1d(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray, flip: bool = True) -> np.ndarray:
    """Run ``torch.nn.functional.conv1d`` on f with kernel g and padding M−1 (all overlaps).

    PyTorch's conv1d computes a cross-correlation; with ``flip=True`` the kernel is reversed first, which turns it
    into the lecture's (full) convolution. With ``flip=False`` it is ``(g ⋆ f)``, the cross-correlation.
    """
    import torch
    import torch.nn.functional as F

    a = as_signal(f, "f")
    b = as_signal(g, "g")
    x = torch.tensor(a, dtype=torch.float64).reshape(1, 1, -1)
    w = torch.tensor(b, dtype=torch.float64).reshape(1, 1, -1)
    if flip:
        w = w.flip(-1)
    with torch.no_grad():
        out = F.conv1d(x, w, padding=b.size - 1)
    return out.reshape(-1).numpy().copy()


def _float_literal(v: float) -> str:
    s = format_number(v)
    return s + "." if re.fullmatch(r"-?\d+", s) else s


def torch_conv1d_code(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray) -> str:
    """The PyTorch code that :func:`torch_conv1d` runs, written out with the current numbers."""
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    shown = 50

    def literal(x: np.ndarray) -> str:
        body = ", ".join(_float_literal(v) for v in x[:shown])
        return f"[{body}, ...]" if x.size > shown else f"[{body}]"

    def note(x: np.ndarray, shape: str) -> str:
        return f"# {shape}; {x.size} values, the first {shown} written here" if x.size > shown else f"# {shape}"

    return (
        "import torch\n"
        "import torch.nn.functional as F\n\n"
        f"f = torch.tensor({literal(a)}).reshape(1, 1, -1)  {note(a, '(batch, channels, length)')}\n"
        f"g = torch.tensor({literal(b)}).reshape(1, 1, -1)  {note(b, '(out_channels, in_channels, kernel size)')}\n\n"
        "# conv1d slides g WITHOUT flipping it (cross-correlation); flip it to get the convolution f * g.\n"
        f"F.conv1d(f, g.flip(-1), padding={b.size - 1})  # padding M-1 keeps every overlap: the 'full' mode\n"
    )


@dataclass(frozen=True)
class FrequencyView:
    """The convolution theorem on a grid of ``n = L+M−1`` frequencies: FFT(f·zero-pad)·FFT(g·zero-pad)."""

    frequencies: np.ndarray  # cycles per sample, 0 .. 0.5
    f_spectrum: np.ndarray  # complex, rfft of f padded to n
    g_spectrum: np.ndarray
    product: np.ndarray
    convolution: np.ndarray  # inverse FFT of the product: equals convolve(f, g)
    max_error: float  # largest |inverse FFT − direct convolution|


def frequency_view(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray) -> FrequencyView:
    """FFT of f times FFT of g, and its inverse, which is the full convolution (the convolution theorem).

    Both are zero-padded to L+M−1 samples so the FFT's circular convolution does not wrap around.
    """
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    n = a.size + b.size - 1
    fa = np.fft.rfft(a, n)
    fb = np.fft.rfft(b, n)
    prod = fa * fb
    back = np.fft.irfft(prod, n)
    direct = np.convolve(a, b)
    return FrequencyView(np.fft.rfftfreq(n), fa, fb, prod, back, float(np.max(np.abs(back - direct))))
