"""A filter as a record (kind, sigma, kernel, border) applied to an image, and how results are shown."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.images.filters.filtering import (
    check_sigma,
    convolve2d,
    gaussian_blur,
    gaussian_kernel2d,
    gradient_magnitude,
    sobel,
)
from cnn_demo.images.filters.kernels import K_H, SOBEL_H, as_kernel, check_image, check_mode, presets

# --------------------------------------------------------------------------------------- filters as a recipe

#: Filter kinds :func:`apply_filter` understands besides the kernel presets.
GAUSSIAN = "Gaussian blur"


GRADIENT_MAGNITUDE = "Gradient magnitude (lecture k_h, k_v)"


SOBEL_MAGNITUDE = "Sobel magnitude"


CUSTOM = "Custom kernel"


@dataclass(frozen=True)
class FilterSpec:
    """What to compute: a filter kind with its settings. Hashable, so results can be cached on it."""

    kind: str
    kernel: tuple[tuple[float, ...], ...] = ()
    sigma: float = 2.0
    mode: str = "reflect"
    cval: float = 0.0

    @property
    def kernel_array(self) -> np.ndarray:
        """The kernel of a kernel filter as an array."""
        return np.array(self.kernel, dtype=np.float64)

    @property
    def uses_kernel(self) -> bool:
        """Whether the filter is a single convolution with :attr:`kernel`."""
        return self.kind not in (GAUSSIAN, GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE)


def filter_kinds() -> list[str]:
    """Every filter offered on the page: Gaussian, the gradient magnitudes, the presets and a custom kernel."""
    return [GAUSSIAN, GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE, *presets(), CUSTOM]


def make_spec(
    kind: str, *, kernel: np.ndarray | None = None, sigma: float = 2.0, mode: str = "reflect", cval: float = 0.0
) -> FilterSpec:
    """Build a :class:`FilterSpec`, filling in a preset's kernel and checking σ, mode and kernel."""
    check_mode(mode)
    if kind == GAUSSIAN:
        check_sigma(sigma)
        return FilterSpec(kind, (), float(sigma), mode, float(cval))
    if kind in (GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE):
        return FilterSpec(kind, (), float(sigma), mode, float(cval))
    table = presets()
    if kind in table and kernel is None:
        kernel = table[kind].kernel
    if kernel is None:
        raise InputError(f"Unknown filter {kind!r} and no kernel given.")
    k = as_kernel(kernel)
    return FilterSpec(kind, tuple(tuple(float(v) for v in row) for row in k), float(sigma), mode, float(cval))


def spec_kernel(spec: FilterSpec) -> np.ndarray:
    """The 2-D kernel a filter convolves with (for the Gaussian, its sampled 2-D bell; Sobel: k_h)."""
    if spec.kind == GAUSSIAN:
        return gaussian_kernel2d(spec.sigma)
    if spec.kind == GRADIENT_MAGNITUDE:
        return K_H
    if spec.kind == SOBEL_MAGNITUDE:
        return SOBEL_H
    return spec.kernel_array


@dataclass(frozen=True)
class EdgePixel:
    """One pixel of the vertical derivative three ways, to explain signs and factors that differ between them.

    ``convolved``: the plane convolved with the slide's k_h (what the pixel inspector adds up); ``edge_h``: what
    the magnitude's code computes there (the lecture's ``ndimage.convolve(image, k_h)``, or
    ``ndimage.sobel(image, 0)``); ``derivative``: the slide's ∂I/∂y ≈ ½[I(y+1) − I(y−1)], a dot product with
    k_h (no flip) halved; for Sobel, the correlation with k_h (no flip, no ½).
    """

    convolved: float
    edge_h: float
    derivative: float


def edge_pixel(
    plane: np.ndarray, method: str, row: int, col: int, mode: str = "reflect", cval: float = 0.0
) -> EdgePixel:
    """:class:`EdgePixel` at (row, col) of ``plane`` for ``method`` ``"central"`` (k_h) or ``"sobel"`` (Sobel's k_h).

    Convolution flips the kernel, so convolving with k_h = [−1, 0, 1]ᵀ gives I(y−1) − I(y+1): the opposite sign
    of the slide's dot product. ``ndimage.sobel`` correlates (no flip), so its sign is the slide's.
    """
    img = check_image(plane)
    if method == "central":
        convolved = float(convolve2d(img, K_H, mode, cval)[row, col])
        return EdgePixel(convolved, convolved, -convolved / 2)
    if method == "sobel":
        convolved = float(convolve2d(img, SOBEL_H, mode, cval)[row, col])
        edge_h = float(sobel(img, 0, mode, cval)[row, col])
        return EdgePixel(convolved, edge_h, edge_h)
    raise InputError(f"method must be 'central' or 'sobel', not {method!r}.")


def apply_filter(image: np.ndarray, spec: FilterSpec) -> np.ndarray:
    """Run the filter described by ``spec`` on ``image`` (float64 result, per channel for colour)."""
    if spec.kind == GAUSSIAN:
        return gaussian_blur(image, spec.sigma, spec.mode, spec.cval)
    if spec.kind == GRADIENT_MAGNITUDE:
        return gradient_magnitude(image, "central", spec.mode, spec.cval)
    if spec.kind == SOBEL_MAGNITUDE:
        return gradient_magnitude(image, "sobel", spec.mode, spec.cval)
    return convolve2d(image, spec.kernel_array, spec.mode, spec.cval)


#: How a filter result (any real numbers) is turned into 0..255 grey levels for display.
DISPLAY_MODES: dict[str, str] = {
    "clip": "values below 0 become 0 and above 255 become 255 (right for blurs and sharpening)",
    "abs": "absolute value, stretched so the largest is 255 (right for edge filters: both signs are edges)",
    "offset": "128 + value, clipped: grey is 0, darker is negative, brighter is positive",
    "stretch": "the smallest value becomes 0 and the largest 255",
}


def default_display(spec: FilterSpec) -> str:
    """The display mode that suits a filter: ``clip`` for kernels summing to 1, ``abs`` for edge detectors."""
    if spec.kind in (GAUSSIAN, GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE):
        return "clip"
    total = float(spec.kernel_array.sum())
    return "clip" if abs(total - 1.0) < 1e-9 else ("offset" if total > 0.5 else "abs")


def to_display(result: np.ndarray, how: str = "clip") -> np.ndarray:
    """Map a filter result to 0..255 for showing it (see :data:`DISPLAY_MODES`); returns uint8."""
    arr = np.asarray(result, dtype=np.float64)
    if how == "clip":
        out = arr
    elif how == "abs":
        a = np.abs(arr)
        peak = a.max()
        out = a * (255.0 / peak) if peak > 0 else a
    elif how == "offset":
        out = arr + 128.0
    elif how == "stretch":
        lo, hi = arr.min(), arr.max()
        out = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    else:
        raise InputError(f"Unknown display mode {how!r}: choose one of {', '.join(DISPLAY_MODES)}.")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
