"""A small picture of every page for the home page, drawn from the package's own data and functions.

Pictures before words: the home page shows what each page draws (the lecture's convolution, a blurred photo, a
pooling grid, boxes on a photo, a mask, ...), made here from the same functions the pages call and the sample data
that ships with the app (nothing is fetched). Each is a small JPEG ``data:`` URL; :func:`page_pictures` builds all
of them once per server (``st.cache_resource``, warmed at start-up by :mod:`cnn_demo.ui.warmup`).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from cnn_demo.ui import sketch
from cnn_demo.ui.sketch import BLUE, GREEN, GREY, ORANGE, PAD, RED, SIZE


def _convolution() -> Image.Image:
    from cnn_demo import signals as sg

    f, g = np.array(sg.LECTURE_F, float), np.array(sg.LECTURE_G, float)
    out = sg.convolve(f, g)
    top = sketch.plot([(np.r_[f, np.zeros(out.size - f.size)], BLUE, "stem")], (PAD, PAD, SIZE[0] - PAD, 80))
    bottom = sketch.plot([(out, ORANGE, "stem")], (PAD, 95, SIZE[0] - PAD, SIZE[1] - PAD))
    top.paste(bottom.crop((0, 90, SIZE[0], SIZE[1])), (0, 90))
    return top


def _gaussian() -> Image.Image:
    from cnn_demo import signals as sg

    _, noisy = sg.noisy_signal(200, 0.3, seed=0)
    smooth = sg.gaussian_smooth(noisy, 4.0)
    return sketch.plot(
        [(noisy, (190, 190, 190), "line"), (smooth, BLUE, "line")], (PAD, PAD, SIZE[0] - PAD, SIZE[1] - PAD)
    )


def _correlation() -> Image.Image:
    from cnn_demo import signals as sg

    x = sg.periodic_signal(200, 20, 0.8, "sine", 0)
    lags, ac = sg.autocorrelation(x - x.mean())
    keep = lags >= 0
    img = sketch.plot([(ac[keep][:120], GREEN, "line")], (PAD, PAD, SIZE[0] - PAD, SIZE[1] - PAD))
    draw = ImageDraw.Draw(img)
    for k in (1, 2, 3, 4, 5):
        x_at = sketch.scale(np.array([20 * k]), 0, 119, PAD, SIZE[0] - PAD)[0]
        draw.line([(x_at, PAD), (x_at, SIZE[1] - PAD)], fill=(255, 160, 160), width=1)
    return img


def _statistics() -> Image.Image:
    from cnn_demo import signals as sg

    _, pmf = sg.dice_sum_pmf(3)
    img, draw = sketch.canvas()
    width = (SIZE[0] - 2 * PAD) / len(pmf)
    for i, p in enumerate(pmf):
        h = p / pmf.max() * (SIZE[1] - 2 * PAD)
        x = PAD + i * width
        draw.rectangle([x + 2, SIZE[1] - PAD - h, x + width - 2, SIZE[1] - PAD], fill=BLUE)
    return img


def _camera() -> np.ndarray:
    from cnn_demo.io.images import to_array
    from cnn_demo.io.samples import load_sample

    return to_array(load_sample("camera", grayscale=True, max_side=256))


def _pixels() -> Image.Image:
    cam = _camera()
    top, left, n = 90, 22, 5  # the edge of the coat against the sky: dark and bright numbers
    crop = cam[top : top + n, left : left + n]
    canvas, _ = sketch.canvas()
    photo = cam.copy()
    canvas.paste(sketch.photo(photo, (SIZE[0] // 2, SIZE[1])), (0, 0))
    box = (SIZE[0] // 2 + 8, 8, SIZE[0] - 8, SIZE[1] - 8)
    sketch.grid(crop, box, sketch.gray, canvas)
    draw, font = ImageDraw.Draw(canvas), sketch.font(11)
    cell = min((box[2] - box[0]) / n, (box[3] - box[1]) / n)
    x0 = box[0] + ((box[2] - box[0]) - cell * n) / 2
    y0 = box[1] + ((box[3] - box[1]) - cell * n) / 2
    for i in range(n):
        for j in range(n):
            v = int(crop[i, j])
            centre = (x0 + (j + 0.5) * cell - 1, y0 + (i + 0.5) * cell - 1)
            draw.text(centre, str(v), fill=(255, 255, 255) if v < 128 else (0, 0, 0), font=font, anchor="mm")
    return canvas


def _filtering() -> Image.Image:
    from cnn_demo.images import filters

    cam = _camera()
    edges = filters.to_display(filters.gradient_magnitude(cam, "sobel"), "clip")
    return sketch.side_by_side(Image.fromarray(cam), Image.fromarray(edges))


def _arithmetic() -> Image.Image:
    grid = np.zeros((6, 6))
    grid[1:4, 2:5] = 1
    img = sketch.grid(grid, (PAD, PAD, SIZE[0] // 2 + 20, SIZE[1] - PAD), lambda v: ORANGE if v else (225, 232, 240))
    out = np.zeros((4, 4))
    out[1, 2] = 1
    return sketch.grid(
        out, (SIZE[0] // 2 + 40, 40, SIZE[0] - PAD, SIZE[1] - 40), lambda v: GREEN if v else (215, 235, 210), img
    )


def _conv_layer() -> Image.Image:
    from cnn_demo.blocks.layers import conv_example

    ex = conv_example(3, 3, 1, 1)
    assert ex is not None
    img = sketch.grid(ex.windows.inputs[0][:7, :7], (PAD, PAD, 190, SIZE[1] - PAD), sketch.blues(0, 9))
    w = ex.windows.weights[0]

    def redblue(v: float) -> tuple[int, int, int]:
        t = float(np.clip(v / 2, -1, 1))
        return (
            (255, int(255 - 150 * t), int(255 - 200 * t)) if t >= 0 else (int(255 + 200 * t), int(255 + 120 * t), 255)
        )

    return sketch.grid(w, (210, 45, SIZE[0] - PAD, SIZE[1] - 45), redblue, img)


def _pooling() -> Image.Image:
    from cnn_demo.blocks import pooling

    x = np.array(pooling.LECTURE_MATRIX)
    out = pooling.pool2d(x, "max", kernel_size=2, stride=1).output
    lo, hi = float(x.min()), float(x.max())
    img = sketch.grid(x, (PAD, PAD, 170, SIZE[1] - PAD), sketch.blues(lo, hi))
    return sketch.grid(out, (190, 35, SIZE[0] - PAD, SIZE[1] - 35), sketch.blues(lo, hi), img)


def _adaptive_pooling() -> Image.Image:
    from cnn_demo.blocks import pooling

    img, draw = sketch.canvas()
    windows = pooling.adaptive_windows(10, 4)
    unit, row = (SIZE[0] - 2 * PAD) / 10, (SIZE[1] - 2 * PAD) / len(windows)
    for i, (s, e) in enumerate(windows):
        y = PAD + i * row
        draw.rectangle([PAD + s * unit, y + 6, PAD + e * unit - 2, y + row - 6], fill=BLUE)
    return img


def _inspector() -> Image.Image:
    from cnn_demo import models

    rows = [
        r for r in models.summarize(models.create("alexnet", pretrained=False), (3, 224, 224)).records() if r["params"]
    ]
    img, draw = sketch.canvas()
    top = max(np.log10(r["params"]) for r in rows)
    width = (SIZE[0] - 2 * PAD) / len(rows)
    for i, r in enumerate(rows):
        h = np.log10(r["params"]) / top * (SIZE[1] - 2 * PAD)
        draw.rectangle([PAD + i * width + 3, SIZE[1] - PAD - h, PAD + (i + 1) * width - 3, SIZE[1] - PAD], fill=BLUE)
    return img


def _feature_maps() -> Image.Image:
    from cnn_demo.images import filters
    from cnn_demo.io.images import to_array
    from cnn_demo.io.samples import load_sample

    cat = to_array(load_sample("chelsea", grayscale=True, max_side=160))
    maps = [
        filters.convolve2d(cat, k) for k in (filters.SOBEL_H, filters.SOBEL_V, filters.presets()["Laplacian"].kernel)
    ]
    img, _ = sketch.canvas()
    tile = (SIZE[0] // 2 - 3, SIZE[1] // 2 - 3)
    tiles = [Image.fromarray(cat), *(Image.fromarray(sketch.viridis(np.abs(m))) for m in maps)]
    for k, t in enumerate(tiles):
        img.paste(sketch.photo(t, tile), ((k % 2) * (tile[0] + 6), (k // 2) * (tile[1] + 6)))
    return img


#: Photos of the bundled people sample used here: three people and a frisbee (boxes), a man in a kitchen (mask).
DETECTION_PHOTO, SEGMENTATION_PHOTO = "000000000625", "000000000294"


def _people(stems: Sequence[str]) -> list[tuple[Image.Image, list[list[float]], np.ndarray]]:
    """Photos of the bundled people sample with their person boxes (x, y, w, h) and person masks (1 = person)."""
    from cnn_demo.data.samples import people_dir

    root = people_dir()
    doc = json.loads((root / "annotations.json").read_text())
    ids = {e["file_name"].rsplit(".", 1)[0]: e["id"] for e in doc["images"]}
    out = []
    for stem in stems:
        boxes = [a["bbox"] for a in doc["annotations"] if a["image_id"] == ids[stem]]
        photo = Image.open(root / "images" / f"{stem}.jpg").convert("RGB")
        out.append((photo, boxes, np.asarray(Image.open(root / "masks" / f"{stem}.png"))))
    return out


def _first_people(n: int) -> list[str]:
    from cnn_demo.data.samples import people_dir

    return sorted(p.stem for p in (people_dir() / "images").glob("*.jpg"))[:n]


def _datasets() -> Image.Image:
    img, _ = sketch.canvas()
    tile = (SIZE[0] // 3 - 4, SIZE[1] // 2 - 4)
    for k, (photo, _, _) in enumerate(_people(_first_people(6))):
        img.paste(sketch.photo(photo, tile), ((k % 3) * (tile[0] + 6), (k // 3) * (tile[1] + 8)))
    return img


def _finetune() -> Image.Image:
    img, draw = sketch.canvas()
    font = sketch.font(13)
    for i, label in enumerate(("conv", "conv", "conv", "pool")):
        x = PAD + i * 52
        draw.rectangle([x, 50, x + 44, 130], fill=(205, 210, 220), outline=GREY)
        draw.text((x + 8, 82), label, fill=(60, 60, 60), font=font)
    draw.text((PAD, 140), "pretrained, frozen", fill=(90, 90, 90), font=font)
    draw.line([(PAD + 4 * 52, 90), (236, 90)], fill=GREY, width=3)
    draw.rectangle([238, 60, SIZE[0] - PAD, 120], fill=ORANGE)
    draw.text((246, 82), "new head", fill=(255, 255, 255), font=font)
    draw.text((238, 140), "your classes", fill=(90, 90, 90), font=font)
    return img


def _localization() -> Image.Image:
    from cnn_demo.applications import localization

    images, boxes, _ = localization.make_localization_data(2, 64, seed=123)
    drawn = [localization.draw_boxes(images[k], boxes[k], scale=3) for k in range(2)]
    return sketch.side_by_side(Image.fromarray(drawn[0]), Image.fromarray(drawn[1]))


def _detection() -> Image.Image:
    ((photo, boxes, _),) = _people([DETECTION_PHOTO])
    draw = ImageDraw.Draw(photo)
    width = max(2, photo.width // 160)
    for x, y, w, h in boxes:
        draw.rectangle([x, y, x + w, y + h], outline=RED, width=width)
    return sketch.photo(photo)


def _rcnn() -> Image.Image:
    """Selective search's first proposals on a small copy of a people photo (R-CNN's regions)."""
    from cnn_demo.applications.rcnn import proposals

    ((photo, _, _),) = _people([DETECTION_PHOTO])
    small = sketch.photo(photo)
    found = proposals.selective_search(np.asarray(small), proposals.ProposalConfig(max_proposals=12))
    draw = ImageDraw.Draw(small)
    colours = (ORANGE, BLUE, GREEN, RED)
    for k, (x0, y0, x1, y1) in enumerate(found.boxes):
        draw.rectangle([x0, y0, x1, y1], outline=colours[k % len(colours)], width=2)
    return small


def _train_detector() -> Image.Image:
    """A person's true box and nine anchors (3 sizes × 3 shapes) of the grid cell at its centre."""
    ((photo, boxes, _),) = _people([DETECTION_PHOTO])
    x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
    cx, cy = x + w / 2, y + h / 2
    draw = ImageDraw.Draw(photo)
    width = max(2, photo.width // 200)
    for side in (64, 128, 256):
        for ratio in (0.5, 1.0, 2.0):  # height / width, as torchvision's AnchorGenerator
            aw, ah = side / ratio**0.5, side * ratio**0.5
            draw.rectangle([cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2], outline=ORANGE, width=1)
    draw.rectangle([x, y, x + w, y + h], outline=GREEN, width=width * 2)
    return sketch.photo(photo)


def _segmentation() -> Image.Image:
    from cnn_demo.applications import segmentation

    ((photo, _, mask),) = _people([SEGMENTATION_PHOTO])
    person = np.where(mask == 1, 15, 0)  # VOC's "person"
    return sketch.photo(segmentation.overlay(np.asarray(photo), person, 0.55))


def _unet() -> Image.Image:
    from cnn_demo.data.figures import colourise
    from cnn_demo.data.samples import voc_pairs_dir

    root = voc_pairs_dir()
    name = sorted(p.stem for p in (root / "images").glob("*.jpg"))[0]
    photo = Image.open(root / "images" / f"{name}.jpg").convert("RGB")
    mask = np.asarray(Image.open(root / "masks" / f"{name}.png"))
    return sketch.side_by_side(photo, Image.fromarray(colourise(mask)))


def _gallery() -> Image.Image:
    """A leaderboard: published runs as bars of held-out accuracy above the majority-class baseline."""
    img, draw = sketch.canvas()
    font = sketch.font(13)
    baseline = 0.54
    x0, x1 = PAD + 70, SIZE[0] - PAD
    for k, (name, acc) in enumerate((("1. Ana", 0.96), ("2. Ben", 0.93), ("3. Chen", 0.88), ("4. Dee", 0.71))):
        y = PAD + 22 + k * 36
        draw.text((PAD, y + 6), name, fill=(60, 60, 60), font=font)
        draw.rectangle([x0, y, x0 + (x1 - x0) * acc, y + 26], fill=BLUE if k else ORANGE)
    xb = x0 + (x1 - x0) * baseline
    draw.line([(xb, PAD + 16), (xb, SIZE[1] - PAD)], fill=GREY, width=2)
    draw.text((xb - 24, PAD), "baseline", fill=(90, 90, 90), font=sketch.font(11))
    return img


def _teacher() -> Image.Image:
    """The teacher's table of every job, a coloured dot for each job's state."""
    img, draw = sketch.canvas()
    font = sketch.font(12)
    rows = (("Ana", "fine-tune", GREEN), ("Ben", "U-Net", BLUE), ("Chen", "faces", ORANGE), ("Dee", "detector", RED))
    draw.text((PAD, PAD), "student      page          state", fill=(90, 90, 90), font=font)
    for k, (name, page, colour) in enumerate(rows):
        y = PAD + 26 + k * 32
        draw.line([(PAD, y - 6), (SIZE[0] - PAD, y - 6)], fill=(225, 225, 225), width=1)
        draw.text((PAD, y), name, fill=(60, 60, 60), font=font)
        draw.text((PAD + 90, y), page, fill=(60, 60, 60), font=font)
        draw.ellipse([PAD + 200, y + 1, PAD + 214, y + 15], fill=colour)
    return img


#: url_path of a page → its picture.
PICTURES: dict[str, Callable[[], Image.Image]] = {
    "signals_convolution": _convolution,
    "signals_gaussian": _gaussian,
    "signals_correlation": _correlation,
    "signals_statistics": _statistics,
    "pixels": _pixels,
    "images_filtering": _filtering,
    "images_arithmetic": _arithmetic,
    "conv_layer": _conv_layer,
    "pooling": _pooling,
    "adaptive_pooling": _adaptive_pooling,
    "model_inspector": _inspector,
    "feature_maps": _feature_maps,
    "datasets": _datasets,
    "finetune": _finetune,
    "localization": _localization,
    "detection": _detection,
    "rcnn": _rcnn,
    "train_detector": _train_detector,
    "segmentation": _segmentation,
    "unet": _unet,
    "gallery": _gallery,
    "teacher": _teacher,
}


def picture(url_path: str) -> Image.Image | None:
    """The thumbnail of the page at ``url_path`` (``SIZE``), or None for a page without one."""
    make = PICTURES.get(url_path)
    return None if make is None else make()


def data_url(image: Image.Image, quality: int = 82) -> str:
    """A thumbnail as a small JPEG ``data:`` URL (it travels inside the page message: nothing to fetch)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def page_pictures(url_paths: Sequence[str]) -> dict[str, str]:
    """``data:`` URLs of the thumbnails of ``url_paths`` (pages without one are left out)."""
    out = {}
    for path in url_paths:
        pic = picture(path)
        if pic is not None:
            out[path] = data_url(pic)
    return out


@st.cache_resource(show_spinner=False)
def cached_page_pictures() -> dict[str, str]:
    """:func:`page_pictures` of every page, built once per server process and shared by every visitor."""
    from cnn_demo.ui.catalog import PAGES

    return page_pictures([p.url_path for p in PAGES])
