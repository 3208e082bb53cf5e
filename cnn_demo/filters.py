"""2-D filtering of images: convolution, correlation, Gaussian blur, gradients and Sobel, as in the lecture.

Everything is computed here with NumPy by padding the image (the border modes of ``scipy.ndimage``) and
adding up shifted copies of it, one per kernel weight, so the result is what ``scipy.ndimage`` gives while
the method stays the one drawn on the slides (in cache-sized blocks of rows, on two threads). Kernels with
many weights (a large Gaussian, a 15×15 kernel) go through the FFT instead, equal to SciPy up to ~1e-11.
Colour images (H×W×C) are filtered channel by channel. The module also parses kernels typed by students,
explains one output pixel (the pixel inspector), computes Fourier magnitudes for the low-/high-pass view, and
writes the ``scipy.ndimage`` and ``torch.nn.functional.conv2d`` code that reproduces a result.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.fft as sfft

from cnn_demo.errors import InputError
from cnn_demo.windows import ConvWindows

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


def as_image(image: np.ndarray) -> np.ndarray:
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


def _check_fits(image: np.ndarray, kernel: np.ndarray) -> None:
    h, w = image.shape[:2]
    kh, kw = kernel.shape
    if kh > h or kw > w:
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


# ------------------------------------------------------------------------------------------------- filtering


def _pad(plane: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], mode: str, cval: float) -> np.ndarray:
    if mode == "constant":
        return np.pad(plane, pads, mode="constant", constant_values=cval)
    return np.pad(plane, pads, mode=NP_PAD_MODES[mode])


#: Kernels with more non-zero weights than this are applied through the FFT (cost independent of kernel size).
FFT_TAPS = 64
#: Elements of the output computed per block of rows: small enough that the block stays in the CPU cache.
BLOCK_ELEMENTS = 16_384
#: Multiply-adds above which the blocks are shared between two threads.
THREADED_WORK = 4_000_000


def _correlate_plane(plane: np.ndarray, weights: np.ndarray, before: tuple[int, int], mode: str, cval: float):
    """Correlate one 2-D plane: pad, then add one shifted copy of the image per kernel weight.

    The sum runs over blocks of rows so each block stays in the CPU cache while its weights are added, and
    the blocks are shared between two threads (NumPy releases the GIL); large kernels go through the FFT.
    """
    kh, kw = weights.shape
    h, w = plane.shape
    pads = ((before[0], kh - 1 - before[0]), (before[1], kw - 1 - before[1]))
    padded = _pad(plane, pads, mode, cval)
    taps = [(i, j, float(weights[i, j])) for i in range(kh) for j in range(kw) if weights[i, j] != 0.0]
    if len(taps) > FFT_TAPS:
        return _correlate_fft(padded, weights, h, w)
    out = np.empty((h, w), dtype=np.float64)
    if not taps:
        out.fill(0.0)
        return out
    step = max(1, BLOCK_ELEMENTS // w)

    def rows(first: int, last: int) -> None:
        term = np.empty((min(step, last - first), w), dtype=np.float64)  # reused: no new array per weight
        for r0 in range(first, last, step):
            r1 = min(last, r0 + step)
            acc, t = out[r0:r1], term[: r1 - r0]
            i, j, v = taps[0]
            np.multiply(padded[r0 + i : r1 + i, j : j + w], v, out=acc)
            for i, j, v in taps[1:]:
                np.multiply(padded[r0 + i : r1 + i, j : j + w], v, out=t)
                acc += t

    half = (h // 2 // step) * step
    if half == 0 or h * w * len(taps) < THREADED_WORK:
        rows(0, h)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(rows, half, h)
            rows(0, half)
            other.result()
    return out


def _correlate_fft(padded: np.ndarray, weights: np.ndarray, h: int, w: int) -> np.ndarray:
    """The 'valid' correlation of ``padded`` with ``weights`` by the convolution theorem (large kernels)."""
    kh, kw = weights.shape
    axes = tuple(a for a, n in enumerate((kh, kw)) if n > 1)
    shape = [sfft.next_fast_len(padded.shape[a], real=True) for a in axes]
    spectrum = sfft.rfftn(padded, shape, axes=axes, workers=2)
    spectrum *= sfft.rfftn(weights[::-1, ::-1], shape, axes=axes, workers=2)
    full = sfft.irfftn(spectrum, shape, axes=axes, workers=2)
    return np.ascontiguousarray(full[kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w])


def _per_channel(image: np.ndarray, fn) -> np.ndarray:
    if image.ndim == 2:
        return fn(image)
    return np.stack([fn(image[..., c]) for c in range(image.shape[2])], axis=-1)


def correlate2d(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Cross-correlation (the kernel is *not* flipped), equal to ``scipy.ndimage.correlate`` in float64.

    This is what ``torch.nn.functional.conv2d`` and CNN layers compute. The kernel's centre is at
    ``(k_h // 2, k_w // 2)``; colour images are filtered per channel.
    """
    img, k = as_image(image), as_kernel(kernel)
    check_mode(mode)
    _check_fits(img, k)
    before = (k.shape[0] // 2, k.shape[1] // 2)
    return _per_channel(img, lambda p: _correlate_plane(p, k, before, mode, float(cval)))


def convolve2d(image: np.ndarray, kernel: np.ndarray, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """Convolution (the kernel is flipped in both directions), equal to ``scipy.ndimage.convolve`` in float64.

    ``(f * g)(t₁, t₂) = Σ f(τ₁, τ₂) g(t₁ − τ₁, t₂ − τ₂)`` as on the slide; outside the image the border
    ``mode`` decides the pixel values. Colour images are filtered per channel.
    """
    img, k = as_image(image), as_kernel(kernel)
    check_mode(mode)
    _check_fits(img, k)
    before = ((k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2)
    flipped = k[::-1, ::-1]
    return _per_channel(img, lambda p: _correlate_plane(p, flipped, before, mode, float(cval)))


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
    img = as_image(image)
    check_mode(mode)
    g = gaussian_kernel1d(sigma, truncate)

    def blur(plane: np.ndarray) -> np.ndarray:
        return _correlate1d(_correlate1d(plane, g, 0, mode, float(cval)), g, 1, mode, float(cval))

    return _per_channel(img, blur)


def sobel(image: np.ndarray, axis: int, mode: str = "reflect", cval: float = 0.0) -> np.ndarray:
    """The Sobel derivative along ``axis`` (0: down the rows, finds horizontal edges; 1: along the columns).

    Equal to ``scipy.ndimage.sobel`` in float64: [−1 0 1] along ``axis``, smoothed with [1 2 1] across it.
    """
    img = as_image(image)
    check_mode(mode)
    if axis not in (0, 1):
        raise InputError(f"axis must be 0 (rows) or 1 (columns), not {axis!r}.")
    diff, smooth = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])

    def run(plane: np.ndarray) -> np.ndarray:
        return _correlate1d(_correlate1d(plane, diff, axis, mode, float(cval)), smooth, 1 - axis, mode, float(cval))

    return _per_channel(img, run)


def gradient_magnitude(
    image: np.ndarray, method: str = "central", mode: str = "reflect", cval: float = 0.0
) -> np.ndarray:
    """√(edge_h² + edge_v²) scaled so its maximum is 255, as the slides' code does.

    ``method="central"`` convolves with the lecture's k_h and k_v; ``"sobel"`` uses ``sobel(·, 0)`` and
    ``sobel(·, 1)``. For a colour image each channel is filtered and all share one scale. A flat image
    (no edges at all) gives zeros instead of the slide code's division by zero.
    """
    img = as_image(image)
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
    img = as_image(plane)
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
    img, k = as_image(plane), as_kernel(kernel)
    if img.ndim != 2:
        raise InputError("The pixel inspector works on one channel at a time.")
    check_mode(mode)
    _check_fits(img, k)
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
    padded = _pad(img, pads, mode, float(cval))
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
    img, k = as_image(plane), as_kernel(kernel)
    if img.ndim != 2:
        raise InputError("The linked view works on one channel at a time.")
    check_mode(mode)
    _check_fits(img, k)
    h, w = img.shape
    if not (0 <= row < h and 0 <= col < w):
        raise InputError(f"Pixel ({row}, {col}) is outside the {h}×{w} image.")
    kh, kw = k.shape
    before = ((kh - 1) // 2, (kw - 1) // 2)
    pads = ((before[0], kh - 1 - before[0]), (before[1], kw - 1 - before[1]))
    sh, sw = min(side, h), min(side, w)
    r0 = min((row // sh) * sh, h - sh)
    c0 = min((col // sw) * sw, w - sw)
    padded = _pad(img, pads, mode, float(cval))
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


# ----------------------------------------------------------------------------------------------- frequencies


def fft_magnitude(plane: np.ndarray) -> np.ndarray:
    """log(1 + |F|) of the 2-D FFT with the zero frequency moved to the centre (for images and results)."""
    img = as_image(plane)
    if img.ndim == 3:
        img = img.mean(axis=2)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(img))))


def kernel_response(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """|H|: how much a kernel multiplies each frequency, on the same centred grid as :func:`fft_magnitude`.

    Values near 1 are kept, near 0 removed: a low-pass kernel is bright in the middle, a high-pass one
    at the edges. By the convolution theorem, F(image * kernel) = F(image) · H (up to border effects).
    """
    k = as_kernel(kernel)
    h, w = shape
    if k.shape[0] > h or k.shape[1] > w:
        raise InputError("The kernel is larger than the image.")
    return np.abs(np.fft.fftshift(np.fft.fft2(k, s=(h, w))))


def high_pass(image: np.ndarray, sigma: float, mode: str = "reflect") -> np.ndarray:
    """The image minus its Gaussian blur: what a low-pass filter throws away (the fine detail)."""
    return split_frequencies(image, sigma, mode)[1]


def split_frequencies(image: np.ndarray, sigma: float, mode: str = "reflect") -> tuple[np.ndarray, np.ndarray]:
    """(low, high): the Gaussian blur and the image minus it, which add up to the image exactly."""
    img = as_image(image)
    low = gaussian_blur(img, sigma, mode)
    return low, img - low


# ---------------------------------------------------------------------------------------------------- code


def _array_literal(k: np.ndarray) -> str:
    rows = ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in k)
    return f"np.array([{rows}])"


def scipy_code(spec: FilterSpec, colour: bool) -> str:
    """Python that reproduces ``apply_filter(image, spec)`` with ``scipy.ndimage``; ``image`` is the float array."""
    mode = f'mode="{spec.mode}"' + (f", cval={spec.cval!r}" if spec.mode == "constant" else "")
    lines = ["import numpy as np", "from scipy import ndimage", ""]
    lines.append(f"# image: float array of 0..255 values, shape {'(H, W, 3)' if colour else '(H, W)'}")
    if spec.kind == GAUSSIAN:
        sig = f"({spec.sigma!r}, {spec.sigma!r}, 0)" if colour else repr(spec.sigma)
        lines.append(f"result = ndimage.gaussian_filter(image, sigma={sig}, {mode})")
        if colour:
            lines[-1] += "  # sigma 0: no blur across channels"
        return "\n".join(lines)
    if spec.kind in (GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE):
        if spec.kind == GRADIENT_MAGNITUDE:
            lines += [
                "k_v = np.array([[-1, 0, 1]])",
                "k_h = np.array([[-1], [0], [1]])",
                "",
            ]
            conv = "ndimage.convolve(plane, {k}, " + mode + ")"
            h, v = conv.format(k="k_h"), conv.format(k="k_v")
        else:
            h = f"ndimage.sobel(plane, 0, {mode})  # horizontal gradient"
            v = f"ndimage.sobel(plane, 1, {mode})  # vertical gradient"
        if colour:
            lines += [
                "planes = [image[..., c] for c in range(image.shape[2])]",
                f"edge_h = np.stack([{h.split('  #')[0].replace('plane', 'p')} for p in planes], axis=-1)",
                f"edge_v = np.stack([{v.split('  #')[0].replace('plane', 'p')} for p in planes], axis=-1)",
            ]
        else:
            lines += [f"edge_h = {h.replace('plane', 'image')}", f"edge_v = {v.replace('plane', 'image')}"]
        lines += [
            "",
            "# Compute the magnitude of the gradient",
            "magnitude = np.sqrt(edge_h**2 + edge_v**2)",
            "magnitude *= 255.0 / np.max(magnitude)",
            "result = magnitude",
        ]
        return "\n".join(lines)
    lines.append(f"kernel = {_array_literal(spec.kernel_array)}")
    if colour:
        lines.append(
            f"result = np.stack([ndimage.convolve(image[..., c], kernel, {mode}) "
            "for c in range(image.shape[2])], axis=-1)"
        )
    else:
        lines.append(f"result = ndimage.convolve(image, kernel, {mode})")
    return "\n".join(lines)


def torch_code(spec: FilterSpec, colour: bool) -> str:
    """Python that reproduces a single-kernel filter with ``torch.nn.functional.conv2d``.

    ``conv2d`` computes a correlation with zero padding, so the code flips the kernel and, for other border
    modes, pads with ``np.pad`` first. The Gaussian is written as its 2-D kernel; the gradient magnitudes
    as two ``conv2d`` calls.
    """
    lines = ["import numpy as np", "import torch", "import torch.nn.functional as F", ""]
    lines.append(f"# image: float array of 0..255 values, shape {'(H, W, 3)' if colour else '(H, W)'}")
    lines.append(
        "x = torch.from_numpy(image).permute(2, 0, 1)[None]  # (1, C, H, W)"
        if colour
        else "x = torch.from_numpy(image)[None, None]  # (1, 1, H, W)"
    )
    lines.append("C = x.shape[1]")

    def conv_lines(name: str, kernel_expr: str, k: np.ndarray, src: str = "x", flip: bool = True) -> list[str]:
        kh, kw = k.shape
        top, left = ((kh - 1) // 2, (kw - 1) // 2) if flip else (kh // 2, kw // 2)
        bottom, right = kh - 1 - top, kw - 1 - left
        if flip:
            out = [f"w = torch.from_numpy(np.ascontiguousarray({kernel_expr}[::-1, ::-1]))  # flip: conv2d correlates"]
        else:
            out = [f"w = torch.from_numpy({kernel_expr})"]
        out.append(f"w = w.to(x.dtype).expand(C, 1, {kh}, {kw})  # the same kernel for each channel")
        if spec.mode == "constant" and spec.cval == 0.0 and (top, left) == (bottom, right):
            out.append(f"{name} = F.conv2d({src}, w, padding=({top}, {left}), groups=C)  # zero padding")
        else:
            kwargs = f", constant_values={spec.cval!r}" if spec.mode == "constant" else ""
            out += [
                f"# scipy's mode={spec.mode!r} is np.pad's mode={NP_PAD_MODES[spec.mode]!r}",
                f"xp = np.pad({src}.numpy(), ((0, 0), (0, 0), ({top}, {bottom}), ({left}, {right})), "
                f"mode={NP_PAD_MODES[spec.mode]!r}{kwargs})",
                f"{name} = F.conv2d(torch.from_numpy(xp), w, groups=C)",
            ]
        return out

    if spec.kind == GRADIENT_MAGNITUDE:
        lines += [f"k_h = {_array_literal(K_H)}", f"k_v = {_array_literal(K_V)}"]
        lines += conv_lines("edge_h", "k_h", K_H) + conv_lines("edge_v", "k_v", K_V)
    if spec.kind == SOBEL_MAGNITUDE:
        lines += [
            "# Sobel = a [-1 0 1] difference along one axis, then [1 2 1] smoothing across it (as ndimage.sobel)",
            "diff = np.array([-1.0, 0.0, 1.0])",
            "smooth = np.array([1.0, 2.0, 1.0])",
        ]
        col, row = np.zeros((3, 1)), np.zeros((1, 3))
        lines += conv_lines("t", "diff[:, None]", col, flip=False) + conv_lines(
            "edge_h", "smooth[None, :]", row, "t", False
        )
        lines += conv_lines("t", "diff[None, :]", row, flip=False) + conv_lines(
            "edge_v", "smooth[:, None]", col, "t", False
        )
    if spec.kind in (GRADIENT_MAGNITUDE, SOBEL_MAGNITUDE):
        lines += [
            "magnitude = torch.sqrt(edge_h**2 + edge_v**2)",
            "magnitude *= 255.0 / magnitude.max()",
            "y = magnitude",
        ]
    else:
        k = spec_kernel(spec)
        if spec.kind == GAUSSIAN:
            lines += [
                f"sigma = {spec.sigma!r}",
                f"t = np.arange(-{(k.shape[0] - 1) // 2}, {(k.shape[0] - 1) // 2 + 1})  # radius = int(4·σ + 0.5)",
                "g = np.exp(-0.5 * (t / sigma) ** 2)",
                "g /= g.sum()",
                "kernel = np.outer(g, g)  # the 2-D Gaussian is separable",
            ]
        else:
            lines.append(f"kernel = {_array_literal(k)}")
        lines += conv_lines("y", "kernel", k)
    lines.append("result = y[0].permute(1, 2, 0).numpy()" if colour else "result = y[0, 0].numpy()")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ border modes


#: Where the border-mode comparison looks: (from the bottom?, from the right?).
CORNERS: dict[str, tuple[bool, bool]] = {
    "top-left": (False, False),
    "top-right": (False, True),
    "bottom-left": (True, False),
    "bottom-right": (True, True),
}


def border_comparison(
    image: np.ndarray, spec: FilterSpec, crop: int = 48, pad: int = 8, corner: str = "top-left"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For every border mode: a ``crop``×``crop`` corner of the image with the ``pad`` pixels the mode invents
    beyond its two outer edges, and the filter's result on that corner.

    The real image sits at :func:`corner_offset` inside the padded crop. Only pixels within the kernel's
    radius of the edge depend on the mode, so each result is computed on the corner plus one radius of real
    image (exact for single-kernel filters, and cheap); ``wrap``, which reads the opposite edges, filters the
    whole image. The gradient magnitudes are scaled to 255 within the image they are computed on.
    """
    img = as_image(image)
    check_mode(spec.mode)
    if corner not in CORNERS:
        raise InputError(f"corner must be one of {', '.join(CORNERS)}, not {corner!r}.")
    if pad < 0:
        raise InputError("The border width cannot be negative.")
    bottom, right = CORNERS[corner]
    h, w = img.shape[:2]
    c = max(1, min(crop, h, w))
    k = spec_kernel(spec)
    reach = c + max(k.shape) // 2 + 1
    rows = slice(max(0, h - reach), h) if bottom else slice(0, min(h, reach))
    cols = slice(max(0, w - reach), w) if right else slice(0, min(w, reach))
    window = img[rows, cols]
    if min(window.shape[:2]) < max(k.shape):
        window = img
    out_rows = slice(-c, None) if bottom else slice(0, c)
    out_cols = slice(-c, None) if right else slice(0, c)
    # The padded crop: pad the whole image (so wrap finds the opposite edge), keep the corner and its border.
    prow = slice(h + 2 * pad - c - pad, h + 2 * pad) if bottom else slice(0, c + pad)
    pcol = slice(w + 2 * pad - c - pad, w + 2 * pad) if right else slice(0, c + pad)
    out = {}
    for mode in MODES:
        padded = _per_channel(img, lambda p, m=mode: _pad(p, ((pad, pad), (pad, pad)), m, spec.cval))[prow, pcol]
        source = img if mode == "wrap" else window
        result = apply_filter(source, FilterSpec(spec.kind, spec.kernel, spec.sigma, mode, spec.cval))
        out[mode] = (padded, result[out_rows, out_cols])
    return out


def busiest_corner(image: np.ndarray, crop: int = 48) -> str:
    """The corner whose ``crop``×``crop`` patch varies most: where the border modes' differences show best."""
    img = as_image(image)
    c = max(1, min(crop, *img.shape[:2]))
    spread = {}
    for name, (bottom, right) in CORNERS.items():
        rows = slice(-c, None) if bottom else slice(0, c)
        cols = slice(-c, None) if right else slice(0, c)
        spread[name] = float(img[rows, cols].std())
    return max(spread, key=spread.get)


def corner_offset(corner: str, pad: int) -> tuple[int, int]:
    """Row and column where the real image starts inside a padded crop of :func:`border_comparison`."""
    bottom, right = CORNERS[corner]
    return (0 if bottom else pad, 0 if right else pad)
