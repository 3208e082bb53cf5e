"""Small drawing helpers for the home page's thumbnails (:mod:`cnn_demo.ui.thumbnails`): a canvas of the
thumbnail's size, line and stem plots, cell grids, photos cropped to the thumbnail's shape. Plain PIL, no Streamlit."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Size of a thumbnail in pixels (a third of the page's width at 1400 pixels).
SIZE = (320, 180)
BLUE, ORANGE, GREEN, RED, GREY = (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (150, 150, 150)
BACKGROUND = (250, 250, 250)
PAD = 14


def canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A blank thumbnail and a pen for it."""
    img = Image.new("RGB", SIZE, BACKGROUND)
    return img, ImageDraw.Draw(img)


def font(size: int = 12) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's own font at ``size`` pixels (no font file to ship)."""
    return ImageFont.load_default(size=size)


def scale(values: np.ndarray, lo: float, hi: float, out_lo: float, out_hi: float) -> np.ndarray:
    """``values`` mapped linearly from [lo, hi] to [out_lo, out_hi] (a flat range maps as if it were 1 wide)."""
    span = (hi - lo) or 1.0
    return out_lo + (np.asarray(values, float) - lo) / span * (out_hi - out_lo)


def plot(series: Sequence[tuple[np.ndarray, tuple[int, int, int], str]], box: tuple[int, int, int, int]) -> Image.Image:
    """Lines (``"line"``) and stems (``"stem"``) of several series sharing one y range, inside ``box``."""
    img, draw = canvas()
    x0, y0, x1, y1 = box
    lo = min(float(np.min(v)) for v, _, _ in series)
    hi = max(float(np.max(v)) for v, _, _ in series)
    lo = min(lo, 0.0)
    zero = float(scale(np.array([0.0]), lo, hi, y1, y0)[0])
    draw.line([(x0, zero), (x1, zero)], fill=(200, 200, 200), width=1)
    for values, colour, kind in series:
        n = len(values)
        xs = scale(np.arange(n), 0, max(n - 1, 1), x0, x1)
        ys = scale(values, lo, hi, y1, y0)
        if kind == "stem":
            for x, y in zip(xs, ys, strict=True):
                draw.line([(x, zero), (x, y)], fill=colour, width=3)
                draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
        else:
            draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=colour, width=2)
    return img


def grid(
    values: np.ndarray,
    box: tuple[int, int, int, int],
    colour: Callable[[float], tuple[int, int, int]],
    img: Image.Image | None = None,
) -> Image.Image:
    """A matrix as square cells with 1-pixel gaps inside ``box`` (centred), each filled by ``colour(value)``."""
    if img is None:
        img, _ = canvas()
    draw = ImageDraw.Draw(img)
    v = np.asarray(values, float)
    x0, y0, x1, y1 = box
    cell = min((x1 - x0) / v.shape[1], (y1 - y0) / v.shape[0])
    left = x0 + ((x1 - x0) - cell * v.shape[1]) / 2
    top = y0 + ((y1 - y0) - cell * v.shape[0]) / 2
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            cx, cy = left + j * cell, top + i * cell
            draw.rectangle([cx, cy, cx + cell - 2, cy + cell - 2], fill=colour(float(v[i, j])))
    return img


def blues(lo: float, hi: float) -> Callable[[float], tuple[int, int, int]]:
    """A colour scale from pale to dark blue over [lo, hi] (values outside are clipped)."""

    def colour(v: float) -> tuple[int, int, int]:
        t = float(np.clip((v - lo) / ((hi - lo) or 1.0), 0, 1))
        return (int(235 - 200 * t), int(242 - 150 * t), int(250 - 80 * t))

    return colour


def gray(v: float) -> tuple[int, int, int]:
    """A pixel value 0–255 as its grey."""
    g = int(np.clip(v, 0, 255))
    return (g, g, g)


def photo(image: np.ndarray | Image.Image, size: tuple[int, int] = SIZE) -> Image.Image:
    """A picture cropped to the thumbnail's shape around its centre and resized."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    pil = pil.convert("RGB")
    w, h = pil.size
    target = size[0] / size[1]
    if w / h > target:
        cw = int(h * target)
        pil = pil.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
    else:
        ch = int(w / target)
        pil = pil.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
    return pil.resize(size, Image.Resampling.LANCZOS)


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """Two pictures, each cropped to half the thumbnail, with a white line between them."""
    half = (SIZE[0] // 2, SIZE[1])
    img, _ = canvas()
    img.paste(photo(left, half), (0, 0))
    img.paste(photo(right, half), (half[0], 0))
    ImageDraw.Draw(img).line([(half[0], 0), (half[0], SIZE[1])], fill=(255, 255, 255), width=2)
    return img


def viridis(values: np.ndarray) -> np.ndarray:
    """Non-negative ``values`` as RGB in (roughly) matplotlib's viridis, scaled to their 99th percentile."""
    stops = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], float)
    t = np.clip(values / (np.percentile(values, 99) or 1.0), 0, 1) * (len(stops) - 1)
    i = np.minimum(t.astype(int), len(stops) - 2)
    frac = (t - i)[..., None]
    return (stops[i] * (1 - frac) + stops[i + 1] * frac).astype(np.uint8)
