"""Pictures of MTCNN's cascade: the pyramid, P-Net's probability map, the funnel of windows, crops coloured by
score, NMS, and the faces with their landmarks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from cnn_demo.applications.faces.cascade import STRIDE, WINDOW, Crops, FaceCascade, Faces, PyramidLevel, StageBoxes
from cnn_demo.applications.figures import BoxGroup, boxes_figure
from cnn_demo.viz import image_trace

#: Score colours: red (0) through yellow to green (1), for crop borders and boxes.
SCORE_SCALE = "RdYlGn"
#: The landmarks' colours: left eye, right eye, nose, left and right mouth corner.
LANDMARK_COLOURS = ("#1f77b4", "#17becf", "#ff7f0e", "#e377c2", "#9467bd")
LANDMARK_NAMES = ("left eye", "right eye", "nose", "left mouth corner", "right mouth corner")
FACE_COLOUR = (0, 200, 255)


def score_colours(scores: Sequence[float] | np.ndarray) -> list[tuple[int, int, int]]:
    """An RGB colour per score (0..1) on :data:`SCORE_SCALE`."""
    if len(scores) == 0:
        return []
    out = sample_colorscale(SCORE_SCALE, [float(np.clip(s, 0.0, 1.0)) for s in scores], colortype="tuple")
    return [(round(r * 255), round(g * 255), round(b * 255)) for r, g, b in out]


def _viridis_lut() -> np.ndarray:
    rgb = sample_colorscale("Viridis", list(np.linspace(0.0, 1.0, 256)), colortype="tuple")
    return (np.asarray(rgb) * 255).round().astype(np.uint8)


def probability_image(probability: np.ndarray) -> np.ndarray:
    """P-Net's probability map (values 0..1) as an RGB picture on the Viridis scale, one pixel per window."""
    idx = np.clip(np.rint(np.asarray(probability, dtype=np.float64) * 255), 0, 255).astype(np.intp)
    return _viridis_lut()[idx]


def level_image(image: np.ndarray, level: PyramidLevel) -> np.ndarray:
    """The shrunk image as P-Net sees it at one pyramid level (area-resampled like the cascade)."""
    return np.asarray(Image.fromarray(np.asarray(image)).resize(level.size, Image.Resampling.BOX))


def pyramid_picture(image: np.ndarray, levels: Sequence[PyramidLevel], height: int = 220) -> np.ndarray:
    """Every pyramid level side by side at its true size relative to the others, each with P-Net's 12×12 window
    drawn in its corner: the window stays the same, the image shrinks, so it covers ever bigger faces."""
    if not levels:
        return np.asarray(image)
    gap = 8
    sizes = [lv.size for lv in levels]
    scale = min(1.0, height / max(h for _, h in sizes))
    total = sum(max(1, round(w * scale)) for w, _ in sizes) + gap * (len(sizes) - 1)
    canvas = Image.new("RGB", (total, max(1, round(max(h for _, h in sizes) * scale))), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for lv in levels:
        w, h = max(1, round(lv.size[0] * scale)), max(1, round(lv.size[1] * scale))
        y = canvas.height - h
        canvas.paste(Image.fromarray(level_image(image, lv)).resize((w, h), Image.Resampling.BOX), (x, y))
        side = max(2, round(WINDOW * scale))
        draw.rectangle((x + 2, y + 2, x + 2 + side, y + 2 + side), outline=(255, 40, 40), width=2)
        x += w + gap
    return np.asarray(canvas)


def best_window(level: PyramidLevel) -> tuple[int, int]:
    """(row, column) of the window P-Net finds most face-like at this level."""
    r, c = np.unravel_index(int(np.argmax(level.probability)), level.probability.shape)
    return int(r), int(c)


def probability_figure(image: np.ndarray, level: PyramidLevel, threshold: float, cell: tuple[int, int]) -> go.Figure:
    """Left: the pyramid level with one 12×12 window; right: P-Net's probability for every window, one pixel
    each, with that window's cell and the cells above the threshold outlined."""
    picture = level_image(image, level)
    row, col = cell
    prob = level.probability
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.04,
        subplot_titles=(
            f"pyramid level: {level.size[0]}×{level.size[1]} px",
            f"P-Net face probability: {prob.shape[1]}×{prob.shape[0]} windows",
        ),
    )
    fig.add_trace(image_trace(picture, "pyramid level"), 1, 1)
    x0, y0 = STRIDE * col, STRIDE * row
    fig.add_trace(_square_trace(x0 - 0.5, y0 - 0.5, WINDOW, "#ff2828", f"window ({row}, {col})"), 1, 1)
    heat = probability_image(prob)
    fig.add_trace(
        go.Image(
            source=image_trace(heat).source,
            name="probability",
            hovertemplate="window row %{y}, column %{x}<extra></extra>",
        ),
        1,
        2,
    )
    fig.add_trace(_square_trace(col - 0.5, row - 0.5, 1, "#ff2828", "its cell"), 1, 2)
    rows, cols = np.nonzero(prob >= threshold)
    if len(rows):
        fig.add_trace(
            go.Scatter(
                x=cols,
                y=rows,
                mode="markers",
                marker=dict(symbol="square-open", size=5, color="#ffffff"),
                name=f"≥ {threshold:g} ({len(rows)})",
                customdata=prob[rows, cols],
                hovertemplate="row %{y}, column %{x}: %{customdata:.3f}<extra></extra>",
            ),
            1,
            2,
        )
    for i, (w, h) in enumerate((picture.shape[1::-1], prob.shape[::-1]), 1):
        fig.update_xaxes(range=[-0.5, w - 0.5], showgrid=False, row=1, col=i)
        fig.update_yaxes(range=[h - 0.5, -0.5], showgrid=False, row=1, col=i, scaleanchor=f"x{i if i > 1 else ''}")
    fig.update_layout(height=400, margin=dict(l=0, r=0, t=30, b=10), legend=dict(orientation="h", y=-0.14))
    return fig


def _square_trace(x: float, y: float, side: float, colour: str, name: str) -> go.Scatter:
    return go.Scatter(
        x=[x, x + side, x + side, x, x],
        y=[y, y, y + side, y + side, y],
        mode="lines",
        line=dict(color=colour, width=2),
        name=name,
        hoverinfo="skip",
    )


def funnel_figure(counts: Sequence[tuple[str, int]]) -> go.Figure:
    """How many windows are left after each step of the cascade, on a log scale (tens of thousands to a few)."""
    labels = [name for name, _ in counts][::-1]
    values = [max(n, 0) for _, n in counts][::-1]
    colours = ["#2ca02c" if i == 0 else "#1f77b4" for i in range(len(values))]
    fig = go.Figure(
        go.Bar(
            x=[max(v, 0.8) for v in values],
            y=labels,
            orientation="h",
            text=[f"{v:,}" for v in values],
            textposition="outside",
            marker_color=colours,
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    top = max([*values, 1])
    fig.update_xaxes(type="log", range=[-0.2, np.log10(top) + 0.6], title="windows left (log scale)")
    fig.update_layout(height=60 + 34 * len(values), margin=dict(l=0, r=10, t=10, b=40), showlegend=False)
    return fig


#: The coloured frame around each crop of :func:`crops_mosaic`, and the white gap between crops (pixels).
MOSAIC_BORDER, MOSAIC_GAP = 4, 3


def _framed_crop(image: np.ndarray, score: float, passed: bool, colour: tuple[int, int, int], tile: int) -> Image.Image:
    """One crop enlarged to ``tile`` pixels in a frame of ``colour``, its score in a corner, dimmed when it failed."""
    border = MOSAIC_BORDER
    cell = Image.new("RGB", (tile + 2 * border, tile + 2 * border), colour)
    face = Image.fromarray(image).resize((tile, tile), Image.Resampling.NEAREST)
    if not passed:
        face = Image.blend(face, Image.new("RGB", face.size, (255, 255, 255)), 0.6)
    cell.paste(face, (border, border))
    draw = ImageDraw.Draw(cell)
    text = f"{score:.2f}"
    draw.rectangle((border, border, border + 6 * len(text) + 2, border + 11), fill=(0, 0, 0))
    draw.text((border + 1, border), text, fill=(255, 255, 255))
    return cell


def crops_mosaic(crops: Crops, *, tile: int = 64, columns: int = 12, limit: int = 96) -> np.ndarray:
    """A grid of a refinement network's input crops, best score first, each framed in its score's colour;
    crops below the stage's threshold are dimmed. At most ``limit`` crops (the best ones), laid out by
    ``torchvision.utils.make_grid``."""
    from torchvision.utils import make_grid

    n = min(len(crops.scores), limit)
    if n == 0:
        return np.full((tile, tile * 2, 3), 255, np.uint8)
    order = np.argsort(-crops.scores, kind="stable")[:n]
    cells = [
        np.asarray(_framed_crop(crops.images[i], float(crops.scores[i]), bool(crops.passed[i]), colour, tile))
        for i, colour in zip(order, score_colours(crops.scores[order]), strict=True)
    ]
    batch = torch.from_numpy(np.stack(cells)).permute(0, 3, 1, 2)
    grid = make_grid(batch, nrow=min(columns, n), padding=MOSAIC_GAP, pad_value=255).permute(1, 2, 0).numpy()
    if n == 1:  # make_grid returns a lone image without its border
        grid = np.pad(grid, ((MOSAIC_GAP, MOSAIC_GAP), (MOSAIC_GAP, MOSAIC_GAP), (0, 0)), constant_values=255)
    return grid


def score_boxes_figure(image: np.ndarray, windows: np.ndarray, scores: np.ndarray, height: int = 480) -> go.Figure:
    """The windows on the image, each in its score's colour (five bins from red to green)."""
    edges = np.linspace(0.0, 1.0, 6)
    groups = []
    for lo, hi in itertools.pairwise(edges):
        inside = (scores >= lo) & ((scores < hi) | (hi == 1.0))
        if inside.any():
            (colour,) = score_colours([(lo + hi) / 2])
            groups.append(
                BoxGroup(
                    f"score {lo:.1f}–{hi:.1f}",
                    windows[inside],
                    f"rgb{colour}",
                    width=1.5,
                    texts=[f"score {s:.3f}" for s in scores[inside]],
                )
            )
    return boxes_figure(image, groups, height=height)


def nms_figure(image: np.ndarray, before: StageBoxes, keep: np.ndarray, height: int = 480) -> go.Figure:
    """The boxes before NMS: those it dropped dashed, those it kept (indices ``keep``) solid."""
    kept = np.zeros(len(before), dtype=bool)
    kept[np.asarray(keep, dtype=np.int64)] = True
    groups = [
        BoxGroup(
            "dropped by NMS",
            before.boxes[~kept],
            "#ff7f0e",
            width=1.5,
            dash="dash",
            texts=[f"score {s:.3f}" for s in before.scores[~kept]],
        ),
        BoxGroup("kept", before.boxes[kept], "#2ca02c", width=3, texts=[f"score {s:.3f}" for s in before.scores[kept]]),
    ]
    return boxes_figure(image, groups, height=height)


def draw_faces(image: np.ndarray, faces: Faces) -> np.ndarray:
    """The image with each face's box, number and score, and its five landmarks as coloured dots."""
    img = Image.fromarray(np.asarray(image)).convert("RGB")
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 300))
    radius = max(2, round(max(img.size) / 250))
    for i, (box, score, marks) in enumerate(zip(faces.boxes, faces.scores, faces.landmarks, strict=True), 1):
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=FACE_COLOUR, width=width)
        label = f"{i}: {score:.2f}"
        ty = max(0.0, y0 - 12)
        draw.rectangle((x0, ty, x0 + 6 * len(label) + 3, ty + 11), fill=FACE_COLOUR)
        draw.text((x0 + 2, ty), label, fill=(0, 0, 0))
        for (x, y), colour in zip(marks, LANDMARK_COLOURS, strict=True):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline=(255, 255, 255))
    return np.asarray(img)


def faces_figure(image: np.ndarray, faces: Faces, height: int = 520) -> go.Figure:
    """Faces as boxes with their five landmarks as markers (hover names each point)."""
    fig = boxes_figure(
        image,
        [
            BoxGroup(
                "faces",
                faces.boxes,
                "#00c8ff",
                width=3,
                texts=[f"face {i + 1}: {s:.3f}" for i, s in enumerate(faces.scores)],
            )
        ],
        height=height,
    )
    for j, (name, colour) in enumerate(zip(LANDMARK_NAMES, LANDMARK_COLOURS, strict=True)):
        pts = faces.landmarks[:, j] if len(faces) else np.zeros((0, 2))
        fig.add_trace(
            go.Scatter(
                x=pts[:, 0],
                y=pts[:, 1],
                mode="markers",
                name=name,
                marker=dict(color=colour, size=7, line=dict(color="white", width=1)),
                hovertemplate=f"{name} (%{{x:.0f}}, %{{y:.0f}})<extra></extra>",
            )
        )
    return fig


def stage_seconds(cascade: FaceCascade) -> list[dict]:
    """One row per stage with its time in milliseconds (for a small table)."""
    return [{"stage": k, "ms": round(v * 1000, 1)} for k, v in cascade.seconds.items()]
