"""2-D correlation and convolution with scipy.ndimage's borders, Gaussian blur, Sobel and gradient magnitude."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.fft as sfft
from scipy.linalg.blas import daxpy as _daxpy

from cnn_demo.errors import InputError
from cnn_demo.images.filters.kernels import (
    GAUSSIAN_TRUNCATE,
    K_H,
    K_V,
    MAX_SIGMA,
    NP_PAD_MODES,
    as_kernel,
    check_fits,
    check_image,
    check_mode,
)

# ------------------------------------------------------------------------------------------------- filtering


def pad_plane(plane: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], mode: str, cval: float) -> np.ndarray:
    """``plane`` padded by ``pads`` ((top, bottom), (left, right)) with the ``scipy.ndimage`` border ``mode``."""
    if mode == "constant":
        return np.pad(plane, pads, mode="constant", constant_values=cval)
    return np.pad(plane, pads, mode=NP_PAD_MODES[mode])  # type: ignore[call-overload]


#: Kernels with more non-zero weights than this are applied through the FFT (cost independent of kernel size).
FFT_TAPS = 64


#: Output elements computed per block: the block and its shifted inputs stay in the CPU cache while every weight is
#: added, and a BLAS call on at most 10,000 numbers runs on the calling thread (OpenBLAS threads longer ones, which
#: costs more than it gains on a shared 2-core server).
BLOCK_ELEMENTS = 8_192


def _correlate_plane(plane: np.ndarray, weights: np.ndarray, before: tuple[int, int], mode: str, cval: float):
    """Correlate one 2-D plane: pad, then add one shifted copy of the image per kernel weight.

    The padded image is read as one flat row of numbers: output pixel (r, c) sits at ``r·W + c`` (W the padded
    width) and weight (i, j) reads ``i·W + j`` further on, so every weight adds one *contiguous* run of the
    image, scaled (BLAS ``daxpy``: y ← a·x + y in one pass), block by block. The ``kw − 1`` extra columns per
    row this computes are dropped at the end. Large kernels go through the FFT.
    """
    kh, kw = weights.shape
    h, w = plane.shape
    pads = ((before[0], kh - 1 - before[0]), (before[1], kw - 1 - before[1]))
    padded = pad_plane(plane, pads, mode, cval)
    taps = [(i, j, float(weights[i, j])) for i in range(kh) for j in range(kw) if weights[i, j] != 0.0]
    if len(taps) > FFT_TAPS:
        return _correlate_fft(padded, weights, h, w)
    if not taps:
        return np.zeros((h, w), dtype=np.float64)
    width = w + kw - 1
    flat = np.ascontiguousarray(padded, dtype=np.float64).ravel()
    offsets = [(i * width + j, v) for i, j, v in taps]
    out = np.empty(h * width, dtype=np.float64)
    n = (h - 1) * width + w  # the last row's extra columns would read past the padded image
    (first, v0), rest = offsets[0], offsets[1:]
    for s in range(0, n, BLOCK_ELEMENTS):
        e = min(n, s + BLOCK_ELEMENTS)
        acc = out[s:e]
        np.multiply(flat[s + first : e + first], v0, out=acc)
        for o, v in rest:
            _daxpy(flat[s + o : e + o], acc, a=v)
    return out.reshape(h, width)[:, :w]  # a view: copying 8 MB out again would cost a fifth of a 3×3 filter


def _correlate_fft(padded: np.ndarray, weights: np.ndarray, h: int, w: int) -> np.ndarray:
    """The 'valid' correlation of ``padded`` with ``weights`` by the convolution theorem (large kernels)."""
    kh, kw = weights.shape
    axes = tuple(a for a, n in enumerate((kh, kw)) if n > 1)
    shape = [sfft.next_fast_len(padded.shape[a], real=True) for a in axes]
    spectrum = sfft.rfftn(padded, shape, axes=axes, workers=2)
    spectrum *= sfft.rfftn(weights[::-1, ::-1], shape, axes=axes, workers=2)
    full = sfft.irfftn(spectrum, shape, axes=axes, workers=2)
    return np.ascontiguousarray(full[kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w])


def per_channel(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` applied to a grayscale image, or to each channel of a colour one (restacked as H×W×C)."""
    if image.ndim == 2:
        return fn(image)
    return np.stack([fn(image[..., c]) for c in range(image.shape[2])], axis=-1)


def correlate2d(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Cross-correlation (the kernel is *not* flipped), equal to ``scipy.ndimage.correlate`` in float64.

    This is what ``torch.nn.functional.conv2d`` and CNN layers compute. The kernel's centre is at
    ``(k_h // 2, k_w // 2)``; colour images are filtered per channel.
    """
    img, k = check_image(image), as_kernel(kernel)
    check_mode(mode)
    check_fits(img, k)
    before = (k.shape[0] // 2, k.shape[1] // 2)
    return per_channel(img, lambda p: _correlate_plane(p, k, before, mode, float(cval)))


def convolve2d(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Convolution (the kernel is flipped in both directions), equal to ``scipy.ndimage.convolve`` in float64.

    ``(f * g)(t₁, t₂) = Σ f(τ₁, τ₂) g(t₁ − τ₁, t₂ − τ₂)`` as on the slide; outside the image the border
    ``mode`` decides the pixel values. Colour images are filtered per channel.
    """
    img, k = check_image(image), as_kernel(kernel)
    check_mode(mode)
    check_fits(img, k)
    before = ((k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2)
    flipped = k[::-1, ::-1]
    return per_channel(img, lambda p: _correlate_plane(p, flipped, before, mode, float(cval)))


def _correlate1d(plane: np.ndarray, weights: np.ndarray, axis: int, mode: str, cval: float) -> np.ndarray:
    kernel = weights[:, None] if axis == 0 else weights[None, :]
    before = (len(weights) // 2, 0) if axis == 0 else (0, len(weights) // 2)
    return _correlate_plane(plane, kernel, before, mode, cval)


def check_sigma(sigma: float) -> float:
    """σ as a float if 0 < σ ≤ :data:`MAX_SIGMA`, else an :class:`InputError`."""
    try:
        s = float(sigma)
    except (TypeError, ValueError) as exc:
        raise InputError(f"σ must be a number, not {sigma!r}.") from exc
    if not math.isfinite(s) or s <= 0:
        raise InputError(f"σ must be greater than 0 (got {sigma}): it is the width of the Gaussian bell.")
    if s > MAX_SIGMA:
        raise InputError(f"σ = {s:g} is too large; use at most {MAX_SIGMA:g}.")
    return s


def gaussian_kernel1d(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> np.ndarray:
    """The sampled, normalised Gaussian g(t) ∝ exp(−t²/2σ²) for t = −r..r, r = ⌊truncate·σ + ½⌋ (as SciPy)."""
    s = check_sigma(sigma)
    radius = int(truncate * s + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / s) ** 2)
    return g / g.sum()


def gaussian_kernel2d(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> np.ndarray:
    """The 2-D Gaussian kernel: the outer product of two 1-D ones (the 2-D Gaussian is separable)."""
    g = gaussian_kernel1d(sigma, truncate)
    return np.outer(g, g)


def gaussian_blur(
    image: np.ndarray, sigma: float, mode: str = "reflect", cval: float = 0.0, truncate: float = GAUSSIAN_TRUNCATE
) -> np.ndarray:
    """Gaussian smoothing, equal to ``scipy.ndimage.gaussian_filter`` (per channel for colour images).

    Runs as two 1-D passes (rows, then columns) because the 2-D Gaussian is separable: 2·(2r+1)
    multiplications per pixel instead of (2r+1)².
    """
    img = check_image(image)
    check_mode(mode)
    g = gaussian_kernel1d(sigma, truncate)

    def blur(plane: np.ndarray) -> np.ndarray:
        return _correlate1d(_correlate1d(plane, g, 0, mode, float(cval)), g, 1, mode, float(cval))

    return per_channel(img, blur)


def sobel(image: np.ndarray, axis: int, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """The Sobel derivative along ``axis`` (0: down the rows, finds horizontal edges; 1: along the columns).

    Equal to ``scipy.ndimage.sobel`` in float64: [−1 0 1] along ``axis``, smoothed with [1 2 1] across it.
    """
    img = check_image(image)
    check_mode(mode)
    if axis not in (0, 1):
        raise InputError(f"axis must be 0 (rows) or 1 (columns), not {axis!r}.")
    diff, smooth = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])

    def run(plane: np.ndarray) -> np.ndarray:
        return _correlate1d(_correlate1d(plane, diff, axis, mode, float(cval)), smooth, 1 - axis, mode, float(cval))

    return per_channel(img, run)


def gradient_magnitude(
    image: np.ndarray, method: str = "central", mode: str = "reflect", cval: float = 0.0
) -> np.ndarray:
    """√(edge_h² + edge_v²) scaled so its maximum is 255, as the slides' code does.

    ``method="central"`` convolves with the lecture's k_h and k_v; ``"sobel"`` uses ``sobel(·, 0)`` and
    ``sobel(·, 1)``. For a colour image each channel is filtered and all share one scale. A flat image
    (no edges at all) gives zeros instead of the slide code's division by zero.
    """
    img = check_image(image)
    if method == "central":
        edge_h, edge_v = convolve2d(img, K_H, mode, cval), convolve2d(img, K_V, mode, cval)
    elif method == "sobel":
        edge_h, edge_v = sobel(img, 0, mode, cval), sobel(img, 1, mode, cval)
    else:
        raise InputError(f"method must be 'central' or 'sobel', not {method!r}.")
    magnitude = np.sqrt(edge_h**2 + edge_v**2)
    peak = magnitude.max()
    if peak > 0:
        magnitude *= 255.0 / peak
    return magnitude
