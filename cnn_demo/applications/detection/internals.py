"""Inside Faster R-CNN: the region proposal network's proposals and objectness, and the anchors at a point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes

from cnn_demo.applications.detection.networks import Detector, as_rgb_image
from cnn_demo.device import get_device
from cnn_demo.errors import InputError

# ---------------------------------------------------------------------------------------------- inside Faster R-CNN


@dataclass(frozen=True)
class RCNNInternals:
    """What a Faster R-CNN computes on one image, in original-image pixels."""

    level_names: list[str]
    feature_sizes: list[tuple[int, int]]  # (rows, cols) per FPN level
    strides: list[float]  # original-image pixels per feature-map cell, per level
    anchors_per_location: int
    anchors: list[np.ndarray]  # per level: (rows*cols*A, 4)
    proposals: np.ndarray  # (P, 4), best objectness first
    objectness: np.ndarray  # (P,) probabilities
    resized_size: tuple[int, int]  # (width, height) the network actually saw


@torch.inference_mode()
def faster_rcnn_internals(detector: Detector, image: Image.Image | np.ndarray) -> RCNNInternals:
    """Anchors at every FPN level and the RPN's proposals (after its own NMS) for a Faster/Mask R-CNN."""
    if detector.info.family != "two-stage":
        raise InputError("Region proposals exist only in the two-stage detectors (Faster R-CNN, Mask R-CNN).")
    img = as_rgb_image(image)
    model: Any = detector.model  # a torchvision Faster/Mask R-CNN: its parts are typed as plain Modules
    tensor = detector.info.weights_entry.transforms()(img).to(get_device())
    images, _ = model.transform([tensor])
    features = model.backbone(images.tensors)
    names = list(features.keys())
    feats = list(features.values())
    rpn = model.rpn
    objectness, deltas = rpn.head(feats)
    anchors = rpn.anchor_generator(images, feats)
    per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
    objectness_flat, deltas_flat = concat_box_prediction_layers(objectness, deltas)
    proposals = rpn.box_coder.decode(deltas_flat, anchors).view(1, -1, 4)
    boxes, scores = rpn.filter_proposals(proposals, objectness_flat, images.image_sizes, per_level)
    resized = images.image_sizes[0]  # (h, w)
    original = (img.height, img.width)
    props = resize_boxes(boxes[0], resized, original).cpu().numpy()
    anchors_orig = resize_boxes(anchors[0], resized, original).cpu().numpy()
    split = np.cumsum(per_level)[:-1]
    sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]
    strides = [img.width / resized[1] * images.tensors.shape[-1] / s[1] for s in sizes]
    return RCNNInternals(
        level_names=names,
        feature_sizes=sizes,
        strides=strides,
        anchors_per_location=int(objectness[0].shape[1]),
        anchors=list(np.split(anchors_orig, split)),
        proposals=props,
        objectness=scores[0].cpu().numpy(),
        resized_size=(int(resized[1]), int(resized[0])),
    )


def anchors_at(internals: RCNNInternals, level: int, row: int, col: int) -> np.ndarray:
    """The anchors (original pixels) centred on feature-map cell (row, col) of FPN level ``level``."""
    rows, cols = internals.feature_sizes[level]
    row = int(np.clip(row, 0, rows - 1))
    col = int(np.clip(col, 0, cols - 1))
    a = internals.anchors_per_location
    start = (row * cols + col) * a
    return internals.anchors[level][start : start + a]
