"""Detections drawn on the image, the untrained-network banner, and COCO-format results."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from cnn_demo.applications.detection.networks import as_rgb_image
from cnn_demo.applications.detection.pipeline import Detections

# ---------------------------------------------------------------------------------------------- outputs


def palette_colour(i: int) -> tuple[int, int, int]:
    """A distinct colour for class id ``i`` (stable across images)."""
    colours = [
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (250, 190, 212),
        (0, 128, 128),
        (220, 190, 255),
        (170, 110, 40),
        (255, 250, 200),
        (128, 0, 0),
        (170, 255, 195),
        (128, 128, 0),
        (255, 215, 180),
        (0, 0, 128),
        (128, 128, 128),
    ]
    return colours[int(i) % len(colours)]


def draw_detections(image: Image.Image | np.ndarray, dets: Detections, *, mask_alpha: float = 0.45) -> np.ndarray:
    """The image with each detection's box, class and score drawn on it (and its mask, for Mask R-CNN)."""
    img = as_rgb_image(image)
    tensor = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
    if len(dets) == 0:
        return np.asarray(img).copy()
    colours = [palette_colour(i) for i in dets.label_ids]
    if dets.masks is not None and len(dets.masks):
        tensor = draw_segmentation_masks(tensor, torch.from_numpy(dets.masks), alpha=mask_alpha, colors=colours)
    width = max(2, round(max(img.size) / 250))
    captions = [f"{name} {score:.2f}" for name, score in zip(dets.box_labels, dets.scores, strict=True)]
    tensor = draw_bounding_boxes(tensor, torch.from_numpy(dets.boxes), labels=captions, colors=colours, width=width)
    out = tensor.permute(1, 2, 0).numpy()
    return out if dets.pretrained else untrained_banner(out)


UNTRAINED_TEXT = "UNTRAINED NETWORK (random weights): these boxes mean nothing"


def untrained_banner(image: np.ndarray, text: str = UNTRAINED_TEXT) -> np.ndarray:
    """``image`` with a red band across its top saying the network is untrained, so a saved copy says it too."""
    from PIL import ImageDraw

    img = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(img)
    height = max(14, img.height // 18)
    draw.rectangle((0, 0, img.width, height), fill=(200, 0, 0))
    draw.text((4, max(1, (height - 11) // 2)), text, fill=(255, 255, 255))
    return np.asarray(img)


def to_coco_json(dets: Detections, image_id: int = 1, file_name: str = "image.png") -> str:
    """Detections in COCO results style (bbox = [x, y, width, height]) plus the image and the categories used."""
    results = [
        {
            "image_id": image_id,
            "category_id": int(cid),
            "category_name": name,
            "bbox": [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)],
            "score": round(float(score), 4),
        }
        for cid, name, score, (x0, y0, x1, y1) in zip(dets.label_ids, dets.labels, dets.scores, dets.boxes, strict=True)
    ]
    info: dict = {"model": dets.model, "pretrained": dets.pretrained}
    if not dets.pretrained:
        from cnn_demo.weights import fetch_command

        info["warning"] = (
            f"{UNTRAINED_TEXT}. The COCO weights were not on the server; get them with "
            f"`{fetch_command(dets.model)}` on a machine that is online."
        )
        for r in results:
            r["untrained"] = True
    doc = {
        "info": info,
        "images": [{"id": image_id, "file_name": file_name, "width": dets.image_size[0], "height": dets.image_size[1]}],
        "categories": [
            {"id": int(c), "name": n} for c, n in sorted(set(zip(dets.label_ids.tolist(), dets.labels, strict=True)))
        ],
        "annotations": results,
    }
    return json.dumps(doc, indent=1)
