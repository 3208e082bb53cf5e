"""Border modes, the lecture's kernels and presets, and reading, editing and writing kernels as text."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from cnn_demo.errors import InputError

#: Border modes, named as in ``scipy.ndimage``, with what each one does to the row ``a b c d``.
MODES: dict[str, str] = {
    "reflect": "d c b a | a b c d | d c b a (the edge pixel is repeated in the mirror)",
    "constant": "k k k k | a b c d | k k k k (a constant value k, 0 by default: zero padding)",
    "nearest": "a a a a | a b c d | d d d d (the edge pixel is repeated)",
    "mirror": "d c b | a b c d | c b a (mirrored about the edge pixel, which is not repeated)",
    "wrap": "a b c d | a b c d | a b c d (the image repeats, as if it were on a torus)",
}


#: The same borders under NumPy's ``np.pad`` names.
NP_PAD_MODES: dict[str, str] = {
    "reflect": "symmetric",
    "constant": "constant",
    "nearest": "edge",
    "mirror": "reflect",
    "wrap": "wrap",
}


MAX_KERNEL_SIDE = 15


MAX_SIGMA = 50.0


GAUSSIAN_TRUNCATE = 4.0


#: The lecture's gradient kernels: k_h (a column) finds horizontal edges, k_v (a row) vertical ones.
K_H = np.array([[-1.0], [0.0], [1.0]])


K_V = np.array([[-1.0, 0.0, 1.0]])


#: Sobel kernels as written on the slide (for ``convolve``): smoothing across, differencing along.
SOBEL_H = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])


SOBEL_V = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Preset:
    """A named kernel with a line on what it does."""

    name: str
    kernel: np.ndarray = field(compare=False)
    description: str
    text: str  # how the kernel is typed in the editor (fractions kept exact)


def _preset(name: str, text: str, description: str) -> Preset:
    return Preset(name, parse_kernel(text), description, text)


def presets() -> dict[str, Preset]:
    """The kernel presets offered on the filtering page, by name."""
    items = [
        _preset("Identity", "0 0 0\n0 1 0\n0 0 0", "Leaves the image unchanged: a check that the machinery works."),
        _preset("Box blur 3×3", "1/9 1/9 1/9\n1/9 1/9 1/9\n1/9 1/9 1/9", "Plain average of the 3×3 neighbourhood."),
        _preset(
            "Box blur 5×5",
            "\n".join([" ".join(["1/25"] * 5)] * 5),
            "Average of the 5×5 neighbourhood: a bigger kernel smooths more.",
        ),
        _preset("Sharpen", "0 -1 0\n-1 5 -1\n0 -1 0", "The image plus its (negative) Laplacian: edges get crisper."),
        _preset(
            "Laplacian", "0 1 0\n1 -4 1\n0 1 0", "Second derivative: zero on flat areas and ramps, large at edges."
        ),
        _preset("Emboss", "-2 -1 0\n-1 1 1\n0 1 2", "A diagonal derivative plus the pixel: looks like a relief."),
        _preset("Outline", "-1 -1 -1\n-1 8 -1\n-1 -1 -1", "A strong high-pass: only outlines survive."),
        _preset(
            "Gradient k_h (lecture)", "-1\n0\n1", "The lecture's k_h: differences between rows find horizontal edges."
        ),
        _preset(
            "Gradient k_v (lecture)", "-1 0 1", "The lecture's k_v: differences between columns find vertical edges."
        ),
        _preset("Sobel k_h", "-1 -2 -1\n0 0 0\n1 2 1", "Sobel: k_h smoothed across with [1 2 1]."),
        _preset("Sobel k_v", "-1 0 1\n-2 0 2\n-1 0 1", "Sobel: k_v smoothed across with [1 2 1]ᵀ."),
    ]
    return {p.name: p for p in items}


# ----------------------------------------------------------------------------------------------- input checks


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MODES`, else raise :class:`InputError`."""
    if mode not in MODES:
        raise InputError(f"Unknown border mode {mode!r}: choose one of {', '.join(MODES)}.")
    return mode


def check_image(image: np.ndarray) -> np.ndarray:
    """An H×W or H×W×C array of finite numbers as float64, or an :class:`InputError` saying what is wrong."""
    try:
        arr = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError("The image must be an array of numbers.") from exc
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise InputError(f"Expected a grayscale (H×W) or colour (H×W×3) image, got an array of shape {arr.shape}.")
    if min(arr.shape[:2]) < 1:
        raise InputError("The image is empty.")
    if not np.isfinite(arr).all():
        raise InputError("The image contains NaN or infinite values.")
    return arr


def as_kernel(kernel: np.ndarray) -> np.ndarray:
    """A non-empty 2-D kernel of finite numbers as float64, or an :class:`InputError`."""
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError("The kernel must be a matrix of numbers with the same count in every row.") from exc
    if k.ndim == 1:
        k = k[None, :]
    if k.ndim != 2 or k.size == 0:
        raise InputError(f"The kernel must be a 2-D matrix, got shape {k.shape}.")
    if not np.isfinite(k).all():
        raise InputError("The kernel contains NaN or infinite values.")
    return k


#: Images at least this many pixels on each side take kernels larger than themselves: the border mode extends
#: them as far as the kernel reaches, exactly as ``scipy.ndimage`` does (the lecture's 7×7 image under a 17×17
#: Gaussian). Below it SciPy's "reflect" of a 2-pixel side repeats differently, so such kernels are refused.
MIN_SIDE_FOR_LARGE_KERNELS = 3


def check_fits(image: np.ndarray, kernel: np.ndarray) -> None:
    """Raise :class:`InputError` for a kernel larger than an image too small to extend (see
    :data:`MIN_SIDE_FOR_LARGE_KERNELS`)."""
    h, w = image.shape[:2]
    kh, kw = kernel.shape
    if (kh > h or kw > w) and min(h, w) < MIN_SIDE_FOR_LARGE_KERNELS:
        raise InputError(f"The {kh}×{kw} kernel is larger than the {h}×{w} image: use a smaller kernel.")


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(/[+-]?(\d+(\.\d*)?|\.\d+))?$")


def _parse_number(token: str, row: int, col: int) -> float:
    if not _NUMBER.match(token):
        raise InputError(f"Row {row}, entry {col}: {token!r} is not a number (write e.g. 2, -0.5 or 1/9).")
    if "/" in token:
        num, den = token.split("/")
        if float(den) == 0:
            raise InputError(f"Row {row}, entry {col}: {token!r} divides by zero.")
        try:
            return float(Fraction(num) / Fraction(den))
        except (ValueError, ZeroDivisionError):
            return float(num) / float(den)
    value = float(token)
    if not math.isfinite(value):
        raise InputError(f"Row {row}, entry {col}: {token!r} is too large.")
    return value


def parse_kernel(text: str, max_side: int = MAX_KERNEL_SIDE) -> np.ndarray:
    """Read a kernel typed as a matrix: one row per line (or rows split by ``;``), numbers split by spaces or commas.

    Fractions such as ``1/9`` and NumPy-style brackets (``[[1, 2], [3, 4]]``) are accepted. Raises
    :class:`InputError` naming the offending entry for non-numbers, ragged rows, empty input or a kernel
    larger than ``max_side``×``max_side``.
    """
    if not isinstance(text, str):
        raise InputError("Type the kernel as text: one row per line.")
    cleaned = text.replace("],", ";").replace("]", "").replace("[", "").replace("\r", "")
    lines = [ln.strip().strip(",").strip() for ln in re.split(r"[;\n]", cleaned)]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError("The kernel is empty: type at least one number.")
    rows = []
    for r, line in enumerate(lines, start=1):
        tokens = [t for t in re.split(r"[,\s]+", line) if t]
        rows.append([_parse_number(t, r, c) for c, t in enumerate(tokens, start=1)])
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        detail = ", ".join(f"row {i} has {len(r)}" for i, r in enumerate(rows, start=1))
        raise InputError(f"Every row of the kernel needs the same number of entries, but {detail}.")
    kernel = np.array(rows, dtype=np.float64)
    if kernel.shape[0] > max_side or kernel.shape[1] > max_side:
        raise InputError(
            f"The kernel is {kernel.shape[0]}×{kernel.shape[1]}; the largest allowed is {max_side}×{max_side}."
        )
    return kernel


def edit_kernel_text(text: str, edits: dict) -> str:
    """Apply a grid editor's changes to a typed kernel, keeping every untouched entry as it was typed (``1/16``).

    ``edits`` maps row index → {column index: new value} (``st.data_editor``'s ``edited_rows``; indices may be
    strings, an emptied cell counts as 0). Raises :class:`InputError` for a kernel that does not parse or a cell
    outside it.
    """
    kernel = parse_kernel(text)
    cleaned = text.replace("],", ";").replace("]", "").replace("[", "").replace("\r", "")
    lines = [ln.strip().strip(",").strip() for ln in re.split(r"[;\n]", cleaned)]
    rows = [[t for t in re.split(r"[,\s]+", ln) if t] for ln in lines if ln]
    for r, changes in (edits or {}).items():
        for c, value in (changes or {}).items():
            i, j = int(r), int(c)
            if not (0 <= i < kernel.shape[0] and 0 <= j < kernel.shape[1]):
                raise InputError(f"Entry ({i + 1}, {j + 1}) is outside the {kernel.shape[0]}×{kernel.shape[1]} kernel.")
            v = 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
            if not math.isfinite(v):
                raise InputError(f"Row {i + 1}, entry {j + 1}: {value!r} is not a finite number.")
            rows[i][j] = f"{v:.6g}"
    return "\n".join(" ".join(r) for r in rows)


def format_kernel(kernel: np.ndarray, digits: int = 4) -> str:
    """A kernel as editable text, one row per line (the inverse of :func:`parse_kernel` up to rounding)."""
    k = as_kernel(kernel)
    return "\n".join(" ".join(f"{v:.{digits}g}" for v in row) for row in k)
