"""Transposed convolution step by step: where each input cell's copy of the kernel lands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.images.arithmetic.sizes import transposed_output_size

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
    n_out = transposed_output_size(size, kernel, stride, padding, output_padding, dilation)
    assert isinstance(n_out, int)  # int arguments give an int
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
    n_out = transposed_output_size(size, kernel, stride, padding, output_padding, dilation)
    assert isinstance(n_out, int)  # int arguments give an int
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
