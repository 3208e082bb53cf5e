"""1-D signals: convolution step by step, Gaussian smoothing, cross-/auto-correlation and convolution in statistics.

Plain NumPy in and out, so every function can be used from a notebook. The definitions follow the lecture:

* convolution ``(f * g)(t) = Σ_τ f(τ) g(t − τ)``, with ``f(τ) = 0`` and ``g(τ) = 0`` outside the samples;
* cross-correlation ``(f ⋆ g)(t) = Σ_τ f(τ) g(t + τ)``; autocorrelation ``f ⋆ f``.

Bad input raises :class:`cnn_demo.errors.InputError` with a message a student can act on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnn_demo.errors import InputError

#: The longest sequence the functions accept (keeps a shared server responsive).
MAX_LENGTH = 10_000

#: Output-length modes of :func:`convolve`, as in ``numpy.convolve``.
MODES: tuple[str, ...] = ("full", "same", "valid")

#: Boundary modes of :func:`gaussian_smooth`, as in ``scipy.ndimage``.
BOUNDARY_MODES: tuple[str, ...] = ("reflect", "constant", "nearest", "wrap", "mirror")

#: What each boundary mode puts beyond the edges of ``a b c d`` (scipy.ndimage's documentation).
BOUNDARY_DESCRIPTIONS: dict[str, str] = {
    "reflect": "mirror image including the edge sample: … c b a | a b c d | d c b …",
    "constant": "zeros: … 0 0 0 | a b c d | 0 0 0 …",
    "nearest": "the edge sample repeated: … a a a | a b c d | d d d …",
    "wrap": "the signal repeated periodically: … b c d | a b c d | a b c …",
    "mirror": "mirror image without repeating the edge sample: … d c b | a b c d | c b a …",
}

# np.pad names for scipy.ndimage's boundary modes.
_PAD_MODES = {"reflect": "symmetric", "constant": "constant", "nearest": "edge", "wrap": "wrap", "mirror": "reflect"}

#: Ready-made signals for the convolution walkthrough.
PRESETS: tuple[str, ...] = ("impulse", "step", "box", "ramp", "noisy sine", "random")

#: A period peak must reach this fraction of the autocorrelation at lag 0 to count (see :func:`estimate_period`).
MIN_PERIOD_PEAK = 0.2

#: The lecture's example.
LECTURE_F: tuple[float, ...] = (1, 2, 3, 4)
LECTURE_G: tuple[float, ...] = (1, 1, 1)


# --------------------------------------------------------------------------------------------- input checking


def _label(name: str) -> str:
    """Sentence-start form of a name: "the signal" → "The signal", but a symbol such as "f" stays "f"."""
    return name if len(name) <= 2 else name[:1].upper() + name[1:]


def as_signal(values: Sequence[float] | np.ndarray, name: str = "the signal") -> np.ndarray:
    """Check a sequence of numbers and return it as a 1-D float array.

    Raises :class:`InputError` for an empty sequence, something that is not a list of numbers, NaN or infinity,
    or more than :data:`MAX_LENGTH` values.
    """
    if isinstance(values, str):
        return parse_numbers(values, name)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{_label(name)} must be a list of numbers.") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{_label(name)} must be a flat list of numbers, not a table of shape {arr.shape}.")
    if arr.size == 0:
        raise InputError(f"{_label(name)} is empty: give at least one number.")
    if arr.size > MAX_LENGTH:
        raise InputError(f"{_label(name)} has {arr.size:,} values; the limit is {MAX_LENGTH:,}.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{_label(name)} contains NaN or infinity; use ordinary numbers.")
    return arr


_SEPARATORS = re.compile(r"[\s,;]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9.+\-−]")


def parse_numbers(text: str, name: str = "the signal") -> np.ndarray:
    """Parse typed numbers such as ``"1, 2, 3, 4"`` or ``"[1 2 3 4]"`` into a float array.

    Commas, semicolons, spaces and surrounding brackets are accepted; anything else raises :class:`InputError`
    naming the piece that is not a number.
    """
    if not isinstance(text, str):
        raise InputError(f"{_label(name)} must be typed as numbers separated by commas.")
    if len(text) > 20 * MAX_LENGTH:
        raise InputError(f"{_label(name)} is too long; the limit is {MAX_LENGTH:,} values.")
    body = text.strip().strip("[]()").strip()
    tokens = [t for t in _SEPARATORS.split(body) if t]
    if not tokens:
        raise InputError(f"{_label(name)} is empty: type numbers separated by commas, e.g. 1, 2, 3, 4.")
    if len(tokens) > MAX_LENGTH:
        raise InputError(f"{_label(name)} has {len(tokens):,} values; the limit is {MAX_LENGTH:,}.")
    values = []
    for i, token in enumerate(tokens, start=1):
        try:
            v = float(token.replace("−", "-"))
        except ValueError:
            # The message is shown as markdown: echo only plain characters of the student's text.
            shown = _UNSAFE.sub("?", token if len(token) <= 20 else token[:20]) + ("…" if len(token) > 20 else "")
            raise InputError(
                f"{_label(name)}: value {i}, “{shown}”, is not a number. Type numbers separated by commas, "
                "e.g. 1, 2, 3, 4."
            ) from None
        if not math.isfinite(v):
            raise InputError(f"{_label(name)}: value {i}, “{_UNSAFE.sub('?', token)}”, is not a finite number.")
        values.append(v)
    return np.asarray(values, dtype=float)


def format_number(x: float, digits: int = 4) -> str:
    """A number written the way the slides write it: ``3`` for whole numbers, else up to ``digits`` significant."""
    x = float(x)
    if abs(x - round(x)) < 1e-9 * max(1.0, abs(x)):
        r = round(x)
        return "0" if r == 0 else str(int(r))
    return f"{x:.{digits}g}"


def format_numbers(values: Sequence[float] | np.ndarray, digits: int = 4) -> str:
    """Numbers joined as ``"1, 2, 3, 4"`` (what :func:`parse_numbers` reads back)."""
    return ", ".join(format_number(v, digits) for v in np.asarray(values, dtype=float).ravel())


def _check_mode(mode: str, allowed: tuple[str, ...]) -> str:
    if mode not in allowed:
        raise InputError(f"Unknown mode “{mode}”: choose one of {', '.join(allowed)}.")
    return mode


def _check_positive(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number.") from None
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a number greater than 0, not {format_number(v) if math.isfinite(v) else v}.")
    return v


# --------------------------------------------------------------------------------------------- presets


def preset_signal(name: str, length: int = 12, seed: int = 0) -> np.ndarray:
    """One of :data:`PRESETS` with ``length`` samples (``seed`` for the noisy and random ones).

    ``ramp`` as a kernel shows the flip: convolving an impulse with ``[1, 2, 3]`` gives ``[1, 2, 3]``, but the
    walkthrough draws it reversed under ``f``.
    """
    if name not in PRESETS:
        raise InputError(f"Unknown preset “{name}”: choose one of {', '.join(PRESETS)}.")
    if not 1 <= int(length) <= MAX_LENGTH:
        raise InputError(f"A preset needs between 1 and {MAX_LENGTH:,} samples, not {length}.")
    n = int(length)
    rng = np.random.default_rng(seed)
    if name == "impulse":
        x = np.zeros(n)
        x[n // 2] = 1.0
    elif name == "step":
        x = (np.arange(n) >= n // 2).astype(float)
    elif name == "box":
        x = np.zeros(n)
        lo, hi = (0, n) if n <= 3 else (n // 3, n - n // 3)
        x[lo:hi] = 1.0
    elif name == "ramp":
        x = np.arange(1, n + 1, dtype=float)
    elif name == "noisy sine":
        t = np.arange(n)
        x = np.round(np.sin(2 * np.pi * 2 * t / max(n, 2)) + 0.3 * rng.standard_normal(n), 2)
    else:  # random
        x = rng.integers(-3, 4, size=n).astype(float)
    return x


# --------------------------------------------------------------------------------------------- convolution


def output_length(len_f: int, len_g: int, mode: str = "full") -> int:
    """Length of ``convolve(f, g, mode)``: full L+M−1, same max(L, M), valid max(L, M) − min(L, M) + 1."""
    _check_mode(mode, MODES)
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
    _check_mode(mode, MODES)
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    return np.convolve(a, b, mode=mode)


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


def _factor(x: float) -> str:
    s = format_number(x)
    return f"({s})" if s.startswith("-") else s


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
    products = " + ".join(f"{_factor(ft)}×{_factor(gt)}" for _, ft, gt in terms)
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


# --------------------------------------------------------------------------------------------- correlation


def cross_correlation(
    f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's cross-correlation ``(f ⋆ g)(t) = Σ_τ f(τ) g(t + τ)`` over every lag where it can be non-zero.

    Returns ``(lags, values)`` with lags ``−(L−1) … M−1``. If g is f delayed by s samples, the peak is at lag s.
    Equals ``numpy.correlate(g, f, "full")`` and the convolution of f reversed with g.
    """
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    lags = np.arange(-(a.size - 1), b.size)
    return lags, np.convolve(a[::-1], b)


@dataclass(frozen=True)
class CorrelationStep:
    """One lag of the cross-correlation: ``value = Σ f_tau · g_t_plus_tau`` over ``terms``.

    ``terms`` holds ``(tau, f_tau, g_t_plus_tau)`` for every τ where f is defined; ``g_t_plus_tau`` is 0 where
    ``t + τ`` falls outside g. Unlike :class:`ConvolutionStep`, g is not flipped: it is only shifted by the lag.
    """

    t: int
    terms: tuple[tuple[int, float, float], ...]
    value: float
    g_length: int


def correlation_step(f: Sequence[float] | np.ndarray, g: Sequence[float] | np.ndarray, t: int) -> CorrelationStep:
    """The record of lag ``t`` (−(L−1) ≤ t ≤ M−1) of the cross-correlation ``(f ⋆ g)(t) = Σ_τ f(τ) g(t + τ)``."""
    a = as_signal(f, "f")
    b = as_signal(g, "g")
    lo, hi = -(a.size - 1), b.size - 1
    if not lo <= int(t) <= hi:
        raise InputError(f"The lag t must be between {lo} and {hi} (where f and g overlap), not {t}.")
    t = int(t)
    terms = []
    for tau in range(a.size):
        j = t + tau
        g_val = float(b[j]) if 0 <= j < b.size else 0.0
        terms.append((tau, float(a[tau]), g_val))
    value = float(sum(ft * gt for _, ft, gt in terms))
    return CorrelationStep(t, tuple(terms), value, int(b.size))


def written_correlation(step: CorrelationStep, overlap_only: bool = False) -> str:
    """The lag written out like :func:`written_sum`, e.g.
    ``(f⋆g)(-1) = f(0)g(-1) + f(1)g(0) + f(2)g(1) = 1×0 + 2×0 + 3×1 = 3``.

    ``overlap_only`` keeps only the terms where g is defined.
    """
    terms = step.terms
    if overlap_only:
        terms = tuple(term for term in terms if 0 <= step.t + term[0] < step.g_length) or terms
    symbols = " + ".join(f"f({tau})g({step.t + tau})" for tau, _, _ in terms)
    products = " + ".join(f"{_factor(ft)}×{_factor(gt)}" for _, ft, gt in terms)
    return f"(f⋆g)({step.t}) = {symbols} = {products} = {format_number(step.value)}"


def autocorrelation(f: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(f ⋆ f)(t) = Σ_τ f(τ) f(t + τ)`` for lags ``−(L−1) … L−1``; symmetric, largest at lag 0."""
    a = as_signal(f, "f")
    return cross_correlation(a, a)


def best_lag(lags: np.ndarray, values: np.ndarray) -> int:
    """The lag of the largest correlation (the estimated shift between two signals)."""
    return int(np.asarray(lags)[int(np.argmax(values))])


def estimate_period(x: Sequence[float] | np.ndarray) -> float | None:
    """The period (in samples) of a roughly periodic signal, read off its autocorrelation.

    The mean is removed; after the autocorrelation's first zero crossing (lags up to half the length), the first
    local maximum reaching half the highest one gives a first guess p (a later peak at 2p or 3p can be higher by
    noise alone). The peaks near 2p, 3p, … are then located too and a line through the origin is fitted to their
    lags, which averages out the noise of a single peak. ``None`` when there is no clear peak: the
    autocorrelation never crosses zero, or its peak is below :data:`MIN_PERIOD_PEAK` of the value at lag 0 (white
    noise reaches about 0.15 there).
    """
    a = as_signal(x, "the signal")
    lags, ac = autocorrelation(a - a.mean())
    pos = ac[lags >= 0][: a.size // 2 + 1]
    below = np.nonzero(pos <= 0)[0]
    if below.size == 0 or below[0] >= pos.size - 1:
        return None
    start = int(below[0])
    tail = pos[start:]
    # The first clear peak: the first local maximum reaching half the highest one (later, higher peaks at 2p, 3p
    # can win by noise alone). Then the highest point within a quarter of it, so noise wiggles are skipped.
    is_peak = (tail[1:-1] >= tail[:-2]) & (tail[1:-1] >= tail[2:]) & (tail[1:-1] >= 0.5 * tail.max())
    peaks_idx = np.nonzero(is_peak)[0]
    guess = start + 1 + int(peaks_idx[0]) if peaks_idx.size else start + int(np.argmax(tail))
    win = max(1, guess // 4)
    lo = max(start, guess - win)
    first = lo + int(np.argmax(pos[lo : guess + win + 1]))
    if first <= 0 or pos[first] < MIN_PERIOD_PEAK * pos[0]:
        return None
    ks, peaks = [], []
    half = max(1, first // 4)
    for k in range(1, pos.size // first + 1):
        lo, hi = k * first - half, min(k * first + half + 1, pos.size)
        if hi - lo < 2 * half + 1:
            break
        ks.append(k)
        peaks.append(lo + int(np.argmax(pos[lo:hi])))
    k_arr, p_arr = np.asarray(ks, float), np.asarray(peaks, float)
    return float(np.sum(k_arr * p_arr) / np.sum(k_arr**2))


def shifted_noisy_copy(
    length: int = 200, shift: int = 15, noise: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random signal f and g = f delayed by ``shift`` samples plus Gaussian noise (for the lag demo)."""
    if not 8 <= int(length) <= MAX_LENGTH:
        raise InputError(f"The length must be between 8 and {MAX_LENGTH:,}, not {length}.")
    if abs(int(shift)) >= length:
        raise InputError(f"The shift ({shift}) must be smaller than the length ({length}).")
    if noise < 0:
        raise InputError("The noise level cannot be negative.")
    rng = np.random.default_rng(seed)
    base = gaussian_smooth(rng.standard_normal(int(length) + 2 * abs(int(shift))), 3.0, mode="wrap")
    base /= base.std()
    off = abs(int(shift))
    f = base[off : off + length]
    g = base[off - int(shift) : off - int(shift) + length] + noise * rng.standard_normal(int(length))
    return f, g


def periodic_signal(
    length: int = 200, period: float = 20.0, noise: float = 0.5, shape: str = "sine", seed: int = 0
) -> np.ndarray:
    """A sine or square wave of the given period (in samples) plus Gaussian noise (for the autocorrelation demo)."""
    if not 8 <= int(length) <= MAX_LENGTH:
        raise InputError(f"The length must be between 8 and {MAX_LENGTH:,}, not {length}.")
    period = _check_positive(period, "The period")
    if noise < 0:
        raise InputError("The noise level cannot be negative.")
    if shape not in ("sine", "square"):
        raise InputError(f"Unknown shape “{shape}”: choose sine or square.")
    t = np.arange(int(length))
    wave = np.sin(2 * np.pi * t / period)
    if shape == "square":
        wave = np.where(wave >= 0, 1.0, -1.0)
    return wave + noise * np.random.default_rng(seed).standard_normal(int(length))


# --------------------------------------------------------------------------------------------- Gaussian filter


def gaussian_radius(sigma: float, truncate: float = 4.0) -> int:
    """Half-width of the sampled kernel: ``int(truncate·σ + 0.5)``, as scipy.ndimage uses."""
    sigma = _check_positive(sigma, "σ (sigma)")
    truncate = _check_positive(truncate, "The truncation")
    radius = int(truncate * sigma + 0.5)
    if 2 * radius + 1 > MAX_LENGTH:
        raise InputError(f"σ = {format_number(sigma)} makes a kernel longer than {MAX_LENGTH:,} samples; use less.")
    return radius


def gaussian_kernel(sigma: float, truncate: float = 4.0, normalise: bool = True) -> np.ndarray:
    """The lecture's Gaussian ``exp(−t²/2σ²)/√(2πσ²)`` sampled at t = −r … r (r = ``int(truncate·σ + 0.5)``).

    Normalised to sum to 1, so smoothing keeps the signal's level (scipy.ndimage does the same). With
    ``normalise=False`` the formula's raw samples, whose sum falls short of 1 for small σ or a tight truncation.
    """
    radius = gaussian_radius(sigma, truncate)
    t = np.arange(-radius, radius + 1, dtype=float)
    w = np.exp(-0.5 * (t / float(sigma)) ** 2)
    return w / w.sum() if normalise else w / math.sqrt(2 * math.pi * float(sigma) ** 2)


def extend_signal(x: Sequence[float] | np.ndarray, radius: int, mode: str = "reflect") -> np.ndarray:
    """x with ``radius`` samples added on each side the way scipy.ndimage's boundary ``mode`` does."""
    _check_mode(mode, BOUNDARY_MODES)
    a = as_signal(x, "the signal")
    if radius < 0:
        raise InputError("The padding cannot be negative.")
    return np.pad(a, int(radius), mode=_PAD_MODES[mode])


def gaussian_smooth(
    x: Sequence[float] | np.ndarray, sigma: float, mode: str = "reflect", truncate: float = 4.0
) -> np.ndarray:
    """Convolve x with :func:`gaussian_kernel`, extending it at the edges by ``mode``; same length as x.

    Equals ``scipy.ndimage.gaussian_filter1d(x, sigma, mode=mode, truncate=truncate)`` (for float input).
    """
    _check_mode(mode, BOUNDARY_MODES)
    a = as_signal(x, "the signal")
    kernel = gaussian_kernel(sigma, truncate)
    radius = kernel.size // 2
    return np.convolve(extend_signal(a, radius, mode), kernel, mode="valid")


def noisy_signal(
    length: int = 200, noise: float = 0.3, seed: int = 0, shape: str = "sine and step"
) -> tuple[np.ndarray, np.ndarray]:
    """A clean test signal (a slow sine with a step: smooth parts and a sharp detail) and a noisy copy."""
    if not 8 <= int(length) <= MAX_LENGTH:
        raise InputError(f"The length must be between 8 and {MAX_LENGTH:,}, not {length}.")
    if noise < 0:
        raise InputError("The noise level cannot be negative.")
    t = np.arange(int(length)) / int(length)
    if shape == "sine and step":
        clean = np.sin(2 * np.pi * 2 * t) + np.where((t > 0.55) & (t < 0.7), 1.5, 0.0)
    elif shape == "sine":
        clean = np.sin(2 * np.pi * 2 * t)
    else:
        raise InputError(f"Unknown shape “{shape}”: choose “sine and step” or “sine”.")
    return clean, clean + noise * np.random.default_rng(seed).standard_normal(int(length))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square difference of two equally long arrays."""
    return float(np.sqrt(np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)))


def smoothing_error_curve(
    clean: np.ndarray, noisy: np.ndarray, sigmas: Sequence[float], mode: str = "reflect", truncate: float = 4.0
) -> np.ndarray:
    """RMSE between the clean signal and the smoothed noisy one for each σ: too small keeps noise, too large blurs."""
    return np.array([rmse(clean, gaussian_smooth(noisy, s, mode, truncate)) for s in sigmas])


# --------------------------------------------------------------------------------------------- statistics


def density_of_sum(pdf_x: Sequence[float] | np.ndarray, pdf_y: Sequence[float] | np.ndarray, dx: float) -> np.ndarray:
    """Density of X + Y for independent X, Y: ``p_{X+Y}(z) = ∫ p_X(τ) p_Y(z − τ) dτ ≈ Σ p_X p_Y dx``.

    Both densities are sampled with the same spacing ``dx``; if they start at ``x0`` and ``y0`` the result is on
    ``x0 + y0 + dx·k`` for ``k = 0 … L+M−2`` (see :func:`sum_grid`). For probability mass functions use dx = 1.
    """
    dx = _check_positive(dx, "The grid spacing dx")
    px = as_signal(pdf_x, "the density of X")
    py = as_signal(pdf_y, "the density of Y")
    if np.any(px < 0) or np.any(py < 0):
        raise InputError("A density cannot be negative.")
    return np.convolve(px, py) * dx


def sum_grid(x0: float, y0: float, dx: float, n_x: int, n_y: int) -> np.ndarray:
    """The grid of :func:`density_of_sum`'s output: ``x0 + y0 + dx·k``."""
    return x0 + y0 + dx * np.arange(n_x + n_y - 1)


@dataclass(frozen=True)
class Uniform:
    """The uniform distribution on [low, high]."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high <= self.low:
            raise InputError("A uniform distribution needs low < high.")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at x."""
        x = np.asarray(x, float)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n independent draws."""
        return rng.uniform(self.low, self.high, n)

    def support(self) -> tuple[float, float]:
        """An interval holding (practically) all the probability."""
        return self.low, self.high


@dataclass(frozen=True)
class Normal:
    """The normal distribution N(mean, std²)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean):
            raise InputError("The mean must be a number.")
        _check_positive(self.std, "The standard deviation")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at x."""
        z = (np.asarray(x, float) - self.mean) / self.std
        return np.exp(-0.5 * z**2) / (self.std * math.sqrt(2 * math.pi))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n independent draws."""
        return rng.normal(self.mean, self.std, n)

    def support(self) -> tuple[float, float]:
        """mean ± 6 std."""
        return self.mean - 6 * self.std, self.mean + 6 * self.std


def sampled_density(dist: Uniform | Normal, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, pdf)`` of a distribution on its support with spacing dx, for :func:`density_of_sum`.

    The grid's first point is a multiple of dx so grids of different distributions line up.
    """
    dx = _check_positive(dx, "The grid spacing dx")
    lo, hi = dist.support()
    n = round((hi - lo) / dx) + 1
    if n > MAX_LENGTH:
        raise InputError(f"The grid would have {n:,} points; use a larger dx.")
    grid = lo + dx * np.arange(n)
    pdf = dist.pdf(grid)
    if isinstance(dist, Uniform):
        # The end points of a uniform sit on the grid: give them half weight (trapezoid rule) so it integrates to 1.
        pdf[0] *= 0.5
        pdf[-1] *= 0.5
    return grid, pdf


def sum_density(dist_x: Uniform | Normal, dist_y: Uniform | Normal, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, density)`` of X + Y by numerically convolving the sampled densities."""
    gx, px = sampled_density(dist_x, dx)
    gy, py = sampled_density(dist_y, dx)
    return sum_grid(gx[0], gy[0], dx, gx.size, gy.size), density_of_sum(px, py, dx)


def uniform_sum_pdf(x: Uniform, y: Uniform, z: np.ndarray) -> np.ndarray:
    """Exact density of X + Y for independent uniforms: the length of [x.low, x.high] ∩ [z − y.high, z − y.low]
    divided by both widths (a triangle for equal widths, a trapezoid otherwise)."""
    z = np.asarray(z, float)
    overlap = np.minimum(x.high, z - y.low) - np.maximum(x.low, z - y.high)
    return np.clip(overlap, 0.0, None) / ((x.high - x.low) * (y.high - y.low))


def normal_sum(x: Normal, y: Normal) -> Normal:
    """X + Y for independent normals: N(μx + μy, σx² + σy²)."""
    return Normal(x.mean + y.mean, math.hypot(x.std, y.std))


def monte_carlo_sum(dist_x: Uniform | Normal, dist_y: Uniform | Normal, n: int, seed: int = 0) -> np.ndarray:
    """n simulated values of X + Y (X, Y independent)."""
    if not 1 <= int(n) <= 1_000_000:
        raise InputError("The number of simulated values must be between 1 and 1,000,000.")
    rng = np.random.default_rng(seed)
    return dist_x.sample(rng, int(n)) + dist_y.sample(rng, int(n))


def dice_sum_pmf(n_dice: int, sides: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """``(totals, probabilities)`` of the sum of ``n_dice`` fair dice: the die's pmf convolved with itself."""
    if not 1 <= int(n_dice) <= 100:
        raise InputError("Choose between 1 and 100 dice.")
    if not 2 <= int(sides) <= 100:
        raise InputError("A die needs between 2 and 100 sides.")
    die = np.full(int(sides), 1.0 / int(sides))
    pmf = die
    for _ in range(int(n_dice) - 1):
        pmf = density_of_sum(pmf, die, 1.0)
    return np.arange(int(n_dice), int(n_dice) * int(sides) + 1), pmf


def modes_agree(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """Per position, whether every boundary mode's output is the same there (to float rounding)."""
    ys = np.stack([np.asarray(y, dtype=np.float64) for y in outputs.values()])
    return np.all(np.isclose(ys, ys[:1], rtol=1e-9, atol=1e-12), axis=0)


def format_ranges(indices: Sequence[int] | np.ndarray) -> str:
    """Sorted integers as runs: ``[2, 3, 4, 7]`` → ``"2 … 4, 7"``."""
    idx = sorted(int(i) for i in indices)
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a} … {b}" if b > a else f"{a}" for a, b in runs)


def most_likely(values: Sequence[float] | np.ndarray, pmf: Sequence[float] | np.ndarray) -> list[int]:
    """Every value whose probability ties for the largest (three dice: 10 and 11), not just the first."""
    p = np.asarray(pmf, dtype=np.float64)
    return [int(v) for v in np.asarray(values)[np.isclose(p, p.max(), rtol=1e-12, atol=0)]]


def roll_dice(n_dice: int, rolls: int, sides: int = 6, seed: int = 0) -> np.ndarray:
    """Totals of ``rolls`` simulated throws of ``n_dice`` dice."""
    if not 1 <= int(rolls) <= 1_000_000:
        raise InputError("The number of rolls must be between 1 and 1,000,000.")
    rng = np.random.default_rng(seed)
    return rng.integers(1, int(sides) + 1, size=(int(rolls), int(n_dice))).sum(axis=1)


def kde(data: Sequence[float] | np.ndarray, grid: Sequence[float] | np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density estimate ``(1/nh) Σ_i φ((x − x_i)/h)`` on grid: the data smoothed by a Gaussian."""
    h = _check_positive(bandwidth, "The bandwidth")
    d = as_signal(data, "the data")
    x = np.asarray(grid, float)
    z = (x[:, None] - d[None, :]) / h
    return np.exp(-0.5 * z**2).sum(axis=1) / (d.size * h * math.sqrt(2 * math.pi))


def kde_by_convolution(
    data: Sequence[float] | np.ndarray, grid: Sequence[float] | np.ndarray, bandwidth: float
) -> np.ndarray:
    """The same estimate as :func:`kde`, computed as a convolution on an evenly spaced grid.

    Each data point becomes a spike of area 1/n in its grid cell (a very fine histogram); convolving the spikes with
    the Gaussian density of standard deviation h spreads each into a bump. Accurate to about half a grid cell.
    """
    h = _check_positive(bandwidth, "The bandwidth")
    d = as_signal(data, "the data")
    x = np.asarray(grid, float)
    if x.ndim != 1 or x.size < 2 or not np.allclose(np.diff(x), x[1] - x[0]) or x[1] <= x[0]:
        raise InputError("The grid must be evenly spaced and increasing.")
    dx = float(x[1] - x[0])
    idx = np.rint((d - x[0]) / dx).astype(int)
    idx = idx[(idx >= 0) & (idx < x.size)]
    spikes = np.bincount(idx, minlength=x.size)[: x.size] / (d.size * dx)
    radius = min(int(np.ceil(6 * h / dx)), MAX_LENGTH // 2)
    t = dx * np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (t / h) ** 2) / (h * math.sqrt(2 * math.pi))
    return np.convolve(spikes, kernel * dx, mode="full")[radius : radius + x.size]


def silverman_bandwidth(data: Sequence[float] | np.ndarray) -> float:
    """Silverman's rule of thumb ``0.9·min(std, IQR/1.34)·n^(−1/5)``, a common default bandwidth."""
    d = as_signal(data, "the data")
    if d.size < 2:
        raise InputError("Need at least two data points for a bandwidth.")
    q75, q25 = np.percentile(d, [75, 25])
    spread = min(float(d.std(ddof=1)), float(q75 - q25) / 1.34) or float(d.std(ddof=1))
    if spread <= 0:
        raise InputError("All data points are equal; there is no spread to set a bandwidth from.")
    return 0.9 * spread * d.size ** (-0.2)


def mixture_sample(n: int = 200, seed: int = 0) -> np.ndarray:
    """A sample from a two-bump mixture (0.6·N(−1, 0.5²) + 0.4·N(1.5, 0.8²)) for the KDE demo."""
    if not 2 <= int(n) <= MAX_LENGTH:
        raise InputError(f"The sample size must be between 2 and {MAX_LENGTH:,}.")
    rng = np.random.default_rng(seed)
    first = rng.random(int(n)) < 0.6
    return np.where(first, rng.normal(-1.0, 0.5, int(n)), rng.normal(1.5, 0.8, int(n)))


def mixture_pdf(x: np.ndarray) -> np.ndarray:
    """The true density :func:`mixture_sample` draws from."""
    return 0.6 * Normal(-1.0, 0.5).pdf(x) + 0.4 * Normal(1.5, 0.8).pdf(x)
