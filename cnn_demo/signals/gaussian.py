"""Gaussian smoothing of a 1-D signal: the kernel, boundary modes, and the error against the clean signal."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.signals.checks import MAX_LENGTH, as_signal, check_choice, check_positive, format_number

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


# --------------------------------------------------------------------------------------------- Gaussian filter


def gaussian_radius(sigma: float, truncate: float = 4.0) -> int:
    """Half-width of the sampled kernel: ``int(truncate·σ + 0.5)``, as scipy.ndimage uses."""
    sigma = check_positive(sigma, "σ (sigma)")
    truncate = check_positive(truncate, "The truncation")
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
    check_choice(mode, BOUNDARY_MODES)
    a = as_signal(x, "the signal")
    if radius < 0:
        raise InputError("The padding cannot be negative.")
    return np.pad(a, int(radius), mode=_PAD_MODES[mode])  # type: ignore[call-overload]


def gaussian_smooth(
    x: Sequence[float] | np.ndarray, sigma: float, mode: str = "reflect", truncate: float = 4.0
) -> np.ndarray:
    """Convolve x with :func:`gaussian_kernel`, extending it at the edges by ``mode``; same length as x.

    Equals ``scipy.ndimage.gaussian_filter1d(x, sigma, mode=mode, truncate=truncate)`` (for float input).
    """
    check_choice(mode, BOUNDARY_MODES)
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
