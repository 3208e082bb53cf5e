"""One output pixel taken apart: its window, the products and their sum."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.images.filters.filtering import pad_plane
from cnn_demo.images.filters.kernels import as_kernel, check_fits, check_image, check_mode
from cnn_demo.images.windows import ConvWindows

# ------------------------------------------------------------------------------------------- pixel inspector


@dataclass(frozen=True)
class PixelBreakdown:
    """How one output pixel of a convolution is computed: Σ neighbourhood × flipped kernel."""

    row: int
    col: int
    neighbourhood: np.ndarray = field(compare=False)  # input values under the kernel (border values included)
    rows: np.ndarray = field(compare=False)  # input row index of each neighbourhood row (outside: <0 or ≥H)
    cols: np.ndarray = field(compare=False)
    weights: np.ndarray = field(compare=False)  # the kernel as it is laid over the image (flipped for convolve)
    products: np.ndarray = field(compare=False)
    total: float
    shape: tuple[int, int]  # the image's height and width

    @property
    def outside(self) -> np.ndarray:
        """True where a neighbourhood cell lies outside the image (its value comes from the border mode)."""
        row_out = (self.rows < 0) | (self.rows >= self.shape[0])
        col_out = (self.cols < 0) | (self.cols >= self.shape[1])
        return np.logical_or.outer(row_out, col_out)


def inspect_pixel(
    plane: np.ndarray,
    kernel: np.ndarray,
    row: int,
    col: int,
    mode: str = "reflect",
    cval: float = 0.0,
    flip: bool = True,
) -> PixelBreakdown:
    """Explain output pixel (row, col) of ``convolve2d(plane, kernel)`` (``flip=False``: of ``correlate2d``).

    The neighbourhood is read from the border-extended image, so at the edges it shows the values the
    border mode invents.
    """
    img, k = check_image(plane), as_kernel(kernel)
    if img.ndim != 2:
        raise InputError("The pixel inspector works on one channel at a time.")
    check_mode(mode)
    check_fits(img, k)
    h, w = img.shape
    if not (0 <= row < h and 0 <= col < w):
        raise InputError(f"Pixel ({row}, {col}) is outside the {h}×{w} image.")
    kh, kw = k.shape
    if flip:
        weights = k[::-1, ::-1]
        before = ((kh - 1) // 2, (kw - 1) // 2)
    else:
        weights = k
        before = (kh // 2, kw // 2)
    pads = ((before[0], kh - 1 - before[0]), (before[1], kw - 1 - before[1]))
    padded = pad_plane(img, pads, mode, float(cval))
    hood = padded[row : row + kh, col : col + kw].copy()
    products = hood * weights
    rows = np.arange(row - before[0], row - before[0] + kh)
    cols = np.arange(col - before[1], col - before[1] + kw)
    return PixelBreakdown(row, col, hood, rows, cols, weights.copy(), products, float(products.sum()), (h, w))


def conv_windows(
    plane: np.ndarray,
    kernel: np.ndarray,
    row: int,
    col: int,
    mode: str = "reflect",
    cval: float = 0.0,
    side: int = 7,
) -> ConvWindows:
    """A ``side``×``side`` tile of ``convolve2d(plane, kernel)`` holding pixel (row, col), laid out for tracing.

    The tiles are fixed (the image cut into ``side``-pixel squares, the last ones shifted to fit), so choosing
    another pixel of the same tile keeps the picture still. The input holds the tile plus the kernel's reach,
    border-mode values included, and the kernel is flipped as it is laid on the image, so each output cell is
    Σ window × weights, exactly the page's convolution (see :func:`inspect_pixel`).
    """
    img, k = check_image(plane), as_kernel(kernel)
    if img.ndim != 2:
        raise InputError("The linked view works on one channel at a time.")
    check_mode(mode)
    check_fits(img, k)
    h, w = img.shape
    if not (0 <= row < h and 0 <= col < w):
        raise InputError(f"Pixel ({row}, {col}) is outside the {h}×{w} image.")
    kh, kw = k.shape
    before = ((kh - 1) // 2, (kw - 1) // 2)
    pads = ((before[0], kh - 1 - before[0]), (before[1], kw - 1 - before[1]))
    sh, sw = min(side, h), min(side, w)
    r0 = min((row // sh) * sh, h - sh)
    c0 = min((col // sw) * sw, w - sw)
    padded = pad_plane(img, pads, mode, float(cval))
    tile = padded[r0 : r0 + sh + kh - 1, c0 : c0 + sw + kw - 1]
    return ConvWindows(
        inputs=tile[None].copy(),
        weights=k[::-1, ::-1][None].copy(),
        in_rows=np.arange(r0 - before[0], r0 - before[0] + sh + kh - 1),
        in_cols=np.arange(c0 - before[1], c0 - before[1] + sw + kw - 1),
        out_rows=np.arange(r0, r0 + sh),
        out_cols=np.arange(c0, c0 + sw),
        image_shape=(h, w),
    )
