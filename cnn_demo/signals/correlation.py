"""Cross-correlation and autocorrelation: finding a shift or a period in a noisy signal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.signals.checks import MAX_LENGTH, as_signal, check_positive, format_factor, format_number
from cnn_demo.signals.gaussian import gaussian_smooth

#: A period peak must reach this fraction of the autocorrelation at lag 0 to count (see :func:`estimate_period`).
MIN_PERIOD_PEAK = 0.2


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
    products = " + ".join(f"{format_factor(ft)}×{format_factor(gt)}" for _, ft, gt in terms)
    return f"(f⋆g)({step.t}) = {symbols} = {products} = {format_number(step.value)}"


def autocorrelation(f: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(f ⋆ f)(t) = Σ_τ f(τ) f(t + τ)`` for lags ``−(L−1) … L−1``; symmetric, largest at lag 0."""
    a = as_signal(f, "f")
    return cross_correlation(a, a)


def best_lag(lags: np.ndarray, values: np.ndarray) -> int:
    """The lag of the largest correlation (the estimated shift between two signals)."""
    return int(np.asarray(lags)[int(np.argmax(values))])


@dataclass(frozen=True)
class PeriodReading:
    """What the autocorrelation says about a signal's period, and how sharply it can say it.

    ``peaks`` are the lags of the peaks near 1, 2, 3, … periods (whole samples: the autocorrelation exists only
    at whole lags); ``period`` is the slope of the line through the origin fitted to them; ``peak_width`` is the
    width of the first peak at half its height, in samples (a broad peak is easily moved by noise).
    """

    period: float
    peaks: tuple[int, ...]
    peak_width: float


def read_period(x: Sequence[float] | np.ndarray) -> PeriodReading | None:
    """The period (in samples) of a roughly periodic signal, read off its autocorrelation, with the peaks used.

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
    return PeriodReading(float(np.sum(k_arr * p_arr) / np.sum(k_arr**2)), tuple(peaks), _half_height_width(pos, first))


def _half_height_width(values: np.ndarray, at: int) -> float:
    """Width in samples of the peak of ``values`` at index ``at`` where it stays above half its height (the
    crossings interpolated linearly between samples)."""
    level = values[at] / 2

    def crossing(step: int) -> float:
        i = at
        while 0 <= i + step < values.size and values[i + step] > level:
            i += step
        if not 0 <= i + step < values.size:
            return float(i)
        inside, outside = values[i], values[i + step]
        return i + step * float((inside - level) / (inside - outside))

    return crossing(1) - crossing(-1)


def estimate_period(x: Sequence[float] | np.ndarray) -> float | None:
    """The period (in samples) of a roughly periodic signal, read off its autocorrelation (see :func:`read_period`);
    ``None`` when there is no clear peak."""
    reading = read_period(x)
    return None if reading is None else reading.period


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
    period = check_positive(period, "The period")
    if noise < 0:
        raise InputError("The noise level cannot be negative.")
    if shape not in ("sine", "square"):
        raise InputError(f"Unknown shape “{shape}”: choose sine or square.")
    t = np.arange(int(length))
    wave = np.sin(2 * np.pi * t / period)
    if shape == "square":
        wave = np.where(wave >= 0, 1.0, -1.0)
    return wave + noise * np.random.default_rng(seed).standard_normal(int(length))
