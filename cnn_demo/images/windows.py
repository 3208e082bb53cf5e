"""Convolutions laid out for tracing: every output cell with the input window and kernel it reads.

CNN Explainer's linked views and setosa's hover-a-pixel product are both "this output cell = Σ this window × this
kernel". :class:`ConvWindows` holds a small convolution in that form (the input with its border or padding, the
kernel as it is laid on the input, stride and dilation), so a figure can outline the window of any output cell and
write out its products, and tests can check every cell against SciPy and PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnn_demo.errors import InputError


@dataclass(frozen=True)
class ConvWindows:
    """A small convolution (cross-correlation of ``inputs`` with ``weights``, as every CNN computes it).

    ``inputs`` is (C, H, W) with the border already added (padding zeros or border-mode values); ``weights`` is
    (C, kh, kw) as laid on the input (a convolution's kernel is flipped first). ``in_rows``/``in_cols`` give the
    original image index of each input row/column (outside the image: < 0 or ≥ its size), ``out_rows``/``out_cols``
    the image index of each output row/column, so a crop of a large image keeps its true coordinates.
    """

    inputs: np.ndarray = field(compare=False)
    weights: np.ndarray = field(compare=False)
    in_rows: np.ndarray = field(compare=False)
    in_cols: np.ndarray = field(compare=False)
    out_rows: np.ndarray = field(compare=False)
    out_cols: np.ndarray = field(compare=False)
    image_shape: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    bias: float = 0.0

    def __post_init__(self) -> None:
        x, w = np.asarray(self.inputs), np.asarray(self.weights)
        if x.ndim != 3 or w.ndim != 3 or x.shape[0] != w.shape[0]:
            raise ValueError(f"inputs {x.shape} and weights {w.shape} must be (C, H, W) and (C, kh, kw)")
        if self.output_shape[0] != len(self.out_rows) or self.output_shape[1] != len(self.out_cols):
            raise ValueError(f"output {self.output_shape} but {len(self.out_rows)}×{len(self.out_cols)} labels")

    @property
    def kernel_shape(self) -> tuple[int, int]:
        return int(self.weights.shape[1]), int(self.weights.shape[2])

    @property
    def output_shape(self) -> tuple[int, int]:
        """(Ho, Wo): ⌊(H − d·(k − 1) − 1)/s⌋ + 1 per axis (the input already holds its border)."""
        _, h, w = self.inputs.shape
        kh, kw = self.kernel_shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        return (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1

    @property
    def outside(self) -> np.ndarray:
        """(H, W) True where an input cell lies outside the image (padding or a border-mode value)."""
        h, w = self.image_shape
        return np.logical_or.outer((self.in_rows < 0) | (self.in_rows >= h), (self.in_cols < 0) | (self.in_cols >= w))

    def window(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column positions (into ``inputs``) that output cell (i, j) reads."""
        ho, wo = self.output_shape
        if not (0 <= i < ho and 0 <= j < wo):
            raise InputError(f"Output cell ({i}, {j}) is outside the {ho}×{wo} output.")
        kh, kw = self.kernel_shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        return i * sh + dh * np.arange(kh), j * sw + dw * np.arange(kw)

    def neighbourhood(self, i: int, j: int) -> np.ndarray:
        """(C, kh, kw) input values under the kernel for output cell (i, j)."""
        rows, cols = self.window(i, j)
        return self.inputs[:, rows][:, :, cols]

    def products(self, i: int, j: int) -> np.ndarray:
        """(C, kh, kw) element-wise products window × kernel; their sum plus the bias is the output value."""
        return self.neighbourhood(i, j) * self.weights

    def value(self, i: int, j: int) -> float:
        return float(self.products(i, j).sum() + self.bias)

    @property
    def output(self) -> np.ndarray:
        """(Ho, Wo) every output value, computed as Σ window × kernel + bias."""
        ho, wo = self.output_shape
        return np.array([[self.value(i, j) for j in range(wo)] for i in range(ho)])

    def cell_of(self, row: int, col: int) -> tuple[int, int] | None:
        """The output cell whose image coordinates are (row, col), or None when it is not in this crop."""
        i = np.flatnonzero(self.out_rows == row)
        j = np.flatnonzero(self.out_cols == col)
        return (int(i[0]), int(j[0])) if i.size and j.size else None


def written_products(cw: ConvWindows, i: int, j: int, max_terms: int = 27, digits: int = 4) -> list[str]:
    """Output cell (i, j) written out as lines of ``window × kernel`` terms, one line per kernel row, then the sum.

    With more than ``max_terms`` products only the per-channel sums are written (a tooltip must stay readable).
    """

    def num(x: float) -> str:
        s = f"{x:.{digits}g}"
        return f"({s})" if s.startswith("-") else s

    hood, weights, prods = cw.neighbourhood(i, j), cw.weights, cw.products(i, j)
    lines: list[str] = []
    if prods.size <= max_terms:
        for c in range(prods.shape[0]):
            for r in range(prods.shape[1]):
                terms = [f"{num(hood[c, r, q])}×{num(weights[c, r, q])}" for q in range(prods.shape[2])]
                lines.append(("+ " if lines else "") + " + ".join(terms))
    else:
        for c in range(prods.shape[0]):
            lines.append(
                ("+ " if lines else "") + f"channel {c}: Σ {prods.shape[1]}×{prods.shape[2]} = {num(prods[c].sum())}"
            )
    if cw.bias:
        lines.append(f"+ bias {num(cw.bias)}")
    lines.append(f"= {cw.value(i, j):.{digits + 2}g}")
    return lines


def linked_cell(value: object, shape: tuple[int, int]) -> tuple[int, int] | None:
    """The output cell (i, j) a click on the linked view sent to Python (its trigger value ``[i, j]``), or None.

    The value comes from the browser, so anything but two whole numbers inside ``shape`` gives None.
    """
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return None
    i, j = value
    return (i, j) if 0 <= i < shape[0] and 0 <= j < shape[1] else None
