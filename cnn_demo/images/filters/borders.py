"""Border modes compared where they differ most: the corners of a picture."""

from __future__ import annotations

from functools import partial

import numpy as np

from cnn_demo.errors import InputError
from cnn_demo.images.filters.filtering import pad_plane, per_channel
from cnn_demo.images.filters.kernels import MODES, check_image, check_mode
from cnn_demo.images.filters.spec import FilterSpec, apply_filter, spec_kernel

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
    img = check_image(image)
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
        pad_with_mode = partial(pad_plane, pads=((pad, pad), (pad, pad)), mode=mode, cval=spec.cval)
        padded = per_channel(img, pad_with_mode)[prow, pcol]
        source = img if mode == "wrap" else window
        result = apply_filter(source, FilterSpec(spec.kind, spec.kernel, spec.sigma, mode, spec.cval))
        out[mode] = (padded, result[out_rows, out_cols])
    return out


def busiest_corner(image: np.ndarray, crop: int = 48) -> str:
    """The corner whose ``crop``×``crop`` patch varies most: where the border modes' differences show best."""
    img = check_image(image)
    c = max(1, min(crop, *img.shape[:2]))
    spread = {}
    for name, (bottom, right) in CORNERS.items():
        rows = slice(-c, None) if bottom else slice(0, c)
        cols = slice(-c, None) if right else slice(0, c)
        spread[name] = float(img[rows, cols].std())
    return max(spread, key=spread.__getitem__)


def corner_offset(corner: str, pad: int) -> tuple[int, int]:
    """Row and column where the real image starts inside a padded crop of :func:`border_comparison`."""
    bottom, right = CORNERS[corner]
    return (0 if bottom else pad, 0 if right else pad)
