"""Which box comes first: the erase test.

An ImageNet classifier is as sure of a bear's head as of the whole bear, and as sure of the whole photo with the
bear in it: the highest score rarely belongs to the box that holds the object. R-CNN learned that on labelled
boxes (an SVM per class with parts as negatives). Without labels, the classifier can still be asked two questions
about a candidate box of the photo's class group (:mod:`.groups`):

* **inside**: how sure it is of the group in the box (the method's own score for that proposal), and
* **outside**: how sure it still is when the box is **erased** from the whole photo.

A part leaves the rest of the animal outside (outside stays high); the whole animal leaves nothing (outside drops);
a box much larger than the animal also erases it, but what it shows inside is mostly background. The best box
maximises ``inside × (1 − outside)``: the idea of "self-taught object localisation" (Bazzani et al. 2016) and of
the smallest destroying region (Fong and Vedaldi 2017), applied to R-CNN's proposals.

Each method erases the way it computes: R-CNN fills the box with the mean colour and runs the whole CNN on the
warped photo again (one pass per candidate); Fast R-CNN removes the box from the shared feature map of the whole
photo (each cell weighted by the share of it outside the box) and runs only the head's pooling and classifier
(EfficientNet's head averages per-cell activations, so weighting cells down is erasing them from what the
classifier sees).

The chosen proposal is then refined by box voting (:func:`.groups.vote`): the score-weighted average of the
candidates that overlap it, whose outlines err on different sides.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torchvision.ops import roi_align

from cnn_demo.applications.rcnn.detect import (
    Classifier,
    DetectConfig,
    feature_map,
    normalise,
    pyramid_image,
    pyramid_levels,
    warp,
    with_context,
)
from cnn_demo.applications.rcnn.groups import (
    Ranking,
    candidates,
    group_name,
    group_of,
    group_probabilities,
    image_group,
    vote,
)


def _whole(image: np.ndarray, clf: Classifier, cfg: DetectConfig) -> np.ndarray:
    h, w = image.shape[:2]
    return with_context(np.array([[0, 0, w, h]], dtype=np.float64), cfg.context, clf.input_size[1])[0]


def _group_probability(logits: torch.Tensor, group: int) -> np.ndarray:
    members = torch.from_numpy(group_of(logits.shape[1]) == group)
    return torch.softmax(logits, dim=1)[:, members].sum(dim=1).numpy()


def rcnn_erased(image: np.ndarray, boxes: np.ndarray, group: int, clf: Classifier, cfg: DetectConfig) -> np.ndarray:
    """R-CNN's erase test: the whole photo (with its context), each box filled with the mean colour, through the
    whole CNN; the group's probability for each."""
    whole = _whole(image, clf, cfg)
    fill = np.array([round(v * 255) for v in clf.mean], dtype=np.uint8)
    out = []
    with torch.inference_mode():
        for start in range(0, len(boxes), cfg.batch_size):
            crops = []
            for box in np.asarray(boxes)[start : start + cfg.batch_size]:
                erased = image.copy()
                x0, y0, x1, y1 = np.round(box).astype(int)
                erased[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = fill
                crops.append(warp(erased, whole, clf))
            out.append(_group_probability(clf.model(normalise(np.stack(crops), clf)), group))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def cell_activations(image: np.ndarray, clf: Classifier, cfg: DetectConfig) -> tuple[torch.Tensor, np.ndarray]:
    """The whole photo's box (with context) pooled from the shared feature map of its pyramid scale at twice the
    head's grid, through the head's 1×1 convolution and batch norm: (channels, rows, cols) activations, and the
    centre of each cell in the photo's pixels (rows, cols, 2)."""
    whole = _whole(image, clf, cfg)
    level = pyramid_levels(whole[None], clf, cfg)[0]
    framed, sx, sy, margin = pyramid_image(image, cfg.pyramid[level], clf, cfg)
    rows, cols = 2 * clf.roi_size[0], 2 * clf.roi_size[1]
    roi = torch.as_tensor(whole * [sx, sy, sx, sy] + margin, dtype=torch.float32)[None]
    head: torch.nn.Sequential = clf.head  # type: ignore[assignment]
    with torch.inference_mode():
        pooled = roi_align(feature_map(framed, clf), [roi], (rows, cols), 1 / clf.stride, -1, True)
        cells = head[1](head[0](pooled))[0]
    x0, y0, x1, y1 = whole
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    ys = y0 + (np.arange(rows) + 0.5) * (y1 - y0) / rows
    return cells, np.stack(np.meshgrid(xs, ys), axis=-1)


def outside_fractions(boxes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """For each box (x0, y0, x1, y1) and each cell of a regular grid (``centres``: (rows, cols, 2) in pixels), the
    share of the cell's area that lies outside the box, (boxes, rows × cols): a cell the box half covers is half
    erased, as R-CNN's erased pixels would be, rather than all or nothing by where its centre falls."""
    xs, ys = centres[0, :, 0], centres[:, 0, 1]
    half_w = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    half_h = (ys[1] - ys[0]) / 2 if len(ys) > 1 else 0.5
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cover_x = np.clip(np.minimum(xs + half_w, b[:, 2:3]) - np.maximum(xs - half_w, b[:, 0:1]), 0, None) / (2 * half_w)
    cover_y = np.clip(np.minimum(ys + half_h, b[:, 3:4]) - np.maximum(ys - half_h, b[:, 1:2]), 0, None) / (2 * half_h)
    return 1.0 - (cover_y[:, :, None] * cover_x[:, None, :]).reshape(len(b), -1)


def fast_erased(image: np.ndarray, boxes: np.ndarray, group: int, clf: Classifier, cfg: DetectConfig) -> np.ndarray:
    """Fast R-CNN's erase test: the head's pooling and classifier on the shared map's cells of the whole photo,
    each weighted by the share of it outside the box (:func:`outside_fractions`); a box that covers every cell
    leaves nothing to see (probability 0)."""
    cells, centres = cell_activations(image, clf, cfg)
    flat = cells.flatten(1)  # (channels, cells)
    head: torch.nn.Sequential = clf.head  # type: ignore[assignment]
    out = np.zeros(len(boxes), np.float32)
    keep = torch.from_numpy(outside_fractions(np.asarray(boxes), centres)).float()
    seen = keep.sum(dim=1)
    visible = seen > 1e-6
    if visible.any():
        with torch.inference_mode():
            pooled = (keep[visible] @ flat.T) / seen[visible][:, None]
            out[visible.numpy()] = _group_probability(head[-1](pooled), group)
    return out


def rank(
    method: str, image: np.ndarray, boxes: np.ndarray, probabilities: np.ndarray, clf: Classifier, cfg: DetectConfig
) -> Ranking:
    """The photo's group, its candidate boxes, and the erase test of each with ``method``'s way of erasing
    ("R-CNN" or "Fast R-CNN"); :attr:`Ranking.chosen` is the best proposal, :attr:`Ranking.box` the best box
    voted by the candidates overlapping it by ``cfg.vote_iou``."""
    start = time.perf_counter()
    group = image_group(probabilities)
    scores = group_probabilities(probabilities)[:, group]
    picked = candidates(scores, boxes, cfg.keep_fraction, cfg.candidates)
    erase = rcnn_erased if method == "R-CNN" else fast_erased
    outside = erase(image, np.asarray(boxes)[picked], group, clf, cfg) if len(picked) else np.zeros(0, np.float32)
    top = int(np.argmax(scores)) if len(scores) else -1
    name = group_name(group, clf.classes)
    ranked = scores[picked] * (1.0 - outside)
    box, voters = np.zeros(4), np.zeros(len(picked), bool)
    if len(picked):
        box, voters = vote(np.asarray(boxes)[picked], ranked, int(np.argmax(ranked)), cfg.vote_iou)
    seconds = time.perf_counter() - start
    return Ranking(group, name, picked, scores[picked], outside, top, seconds, box, voters)
