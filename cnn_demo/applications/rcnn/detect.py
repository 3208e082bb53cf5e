"""R-CNN and Fast R-CNN on the same region proposals, with the same ImageNet classifier.

* **R-CNN** (Girshick et al. 2014): every proposal, widened by a little context, is cut out and warped to the
  classifier's input size (from the model's data config), and the whole CNN runs once per proposal.
* **Fast R-CNN** (Girshick 2015): the convolutional trunk runs **once** on the whole image; each proposal's part
  of that feature map is pooled to the grid the head expects (``torchvision.ops.roi_align``) and only the head
  (EfficientNet-Lite0's last 1×1 conv, batch norm, pooling and classifier) runs per proposal.

Both end the same way: each proposal's best class *group* (a dog's 120 breeds summed, see :mod:`.groups`) and its
probability, a score threshold, greedy non-maximum suppression per group (``torchvision.ops.batched_nms``), and the
best box first (chosen by :mod:`.ranking`). :func:`cnn_demo.applications.rcnn.compare` runs both on one image and
measures what the lecture's slide claims: sharing the computation makes it many times faster, and how often the
two still name the same class for the same proposal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import batched_nms, box_iou, roi_align

from cnn_demo.applications.rcnn.groups import Ranking, best_groups
from cnn_demo.errors import InputError
from cnn_demo.models import class_names, data_config, model_name

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DetectConfig:
    """How proposals become detections. ``context`` is the paper's padding: pixels of image around the proposal
    at the classifier's input size (16 of 227 in R-CNN); both methods look at the same widened box. ``pyramid``
    are the image scales Fast R-CNN may compute feature maps at (its multi-scale test). ``rerank``: put first the
    box that best passes the erase test among up to ``candidates`` boxes of the photo's group scoring at least
    ``keep_fraction`` of its best (see :mod:`.ranking`), refined by box voting with the candidates overlapping it by
    ``vote_iou`` (1: no voting); otherwise the highest score comes first."""

    context: int = 16
    score_threshold: float = 0.2
    nms_iou: float = 0.3
    max_detections: int = 10
    batch_size: int = 16
    pyramid: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125)
    rerank: bool = True
    candidates: int = 32
    keep_fraction: float = 0.5
    vote_iou: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.score_threshold <= 1 or not 0 < self.nms_iou <= 1:
            raise InputError("The score threshold must be in 0..1 and the NMS IoU threshold in (0, 1].")
        if self.context < 0 or self.batch_size < 1 or self.max_detections < 1:
            raise InputError("Context, batch size and the number of detections must be positive.")
        if not self.pyramid or not all(0 < f <= 4 for f in self.pyramid):
            raise InputError("Fast R-CNN's image scales must be between 0 and 4.")
        if self.candidates < 1 or not 0 <= self.keep_fraction <= 1 or not 0 < self.vote_iou <= 1:
            raise InputError(
                "The best box needs at least one candidate, a kept fraction in 0..1 and a voting IoU in (0, 1]."
            )


@dataclass(frozen=True)
class Classifier:
    """An ImageNet CNN cut in two for Fast R-CNN: ``trunk`` (image → feature map with ``stride`` pixels per cell)
    and ``head`` (feature map → logits); ``model`` is the whole network R-CNN runs on each warped crop."""

    name: str
    model: nn.Module
    trunk: nn.Module
    head: nn.Module
    stride: int
    input_size: tuple[int, int]  # (height, width) from the model's data config
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    classes: tuple[str, ...]

    @property
    def roi_size(self) -> tuple[int, int]:
        """The feature grid the head sees on a whole input (7×7 for 224 pixels at stride 32)."""
        return (self.input_size[0] // self.stride, self.input_size[1] // self.stride)


def split_classifier(model: nn.Module) -> Classifier:
    """Cut a timm EfficientNet-family classifier (``conv_stem``, ``bn1``, ``blocks`` | ``conv_head``, ``bn2``,
    ``global_pool``, ``classifier``) into trunk and head; preprocessing comes from the model's data config."""
    parts = ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool", "classifier")
    if not all(hasattr(model, p) for p in parts):
        raise InputError("R-CNN here needs an EfficientNet-style classifier such as tf_efficientnet_lite0.")
    m: Any = model  # timm's attributes, checked above
    trunk = nn.Sequential(m.conv_stem, m.bn1, m.blocks).eval()
    head = nn.Sequential(m.conv_head, m.bn2, m.global_pool, m.classifier).eval()
    info = getattr(m, "feature_info", None)
    stride = int(info[-1]["reduction"]) if info else 32
    cfg = data_config(model)
    name = model_name(model) or "classifier"
    classes = class_names(name) if model_name(model) else tuple(f"class {i}" for i in range(int(m.num_classes)))
    return Classifier(
        name, model, trunk, head, stride, cfg.input_size[1:], cfg.mean, cfg.std, cfg.interpolation, classes
    )


def with_context(boxes: np.ndarray, context: int, input_side: int) -> np.ndarray:
    """Widen each box so that, warped to ``input_side`` pixels, the original box keeps ``context`` pixels of
    surroundings on every side (R-CNN's padding; the widened box may leave the image)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    inner = max(input_side - 2 * context, 1)
    grow = (input_side / inner - 1) / 2
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] - grow * wh, b[:, 2:] + grow * wh], axis=1)


def warp(image: np.ndarray, box: np.ndarray, clf: Classifier) -> np.ndarray:
    """One proposal as R-CNN sees it: the box cut out and stretched (aspect ratio ignored) to the input size;
    the part outside the image is the mean colour, which is zero after normalisation (as in the paper)."""
    h, w = clf.input_size
    fill = tuple(round(v * 255) for v in clf.mean)
    canvas = Image.new("RGB", (w, h), fill)
    x0, y0, x1, y1 = (float(v) for v in box)
    ih, iw = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, iw), min(y1, ih)
    sx, sy = w / max(x1 - x0, 1e-6), h / max(y1 - y0, 1e-6)
    px0, py0 = round((cx0 - x0) * sx), round((cy0 - y0) * sy)
    px1, py1 = round((cx1 - x0) * sx), round((cy1 - y0) * sy)
    if px1 > px0 and py1 > py0 and cx1 > cx0 and cy1 > cy0:
        resample = Image.Resampling[clf.interpolation.upper()] if clf.interpolation else Image.Resampling.BILINEAR
        part = Image.fromarray(image).resize((px1 - px0, py1 - py0), resample, box=(cx0, cy0, cx1, cy1))
        canvas.paste(part, (px0, py0))
    return np.asarray(canvas)


def normalise(images: np.ndarray, clf: Classifier) -> torch.Tensor:
    """(N, H, W, 3) uint8 → the (N, 3, H, W) float tensor the classifier expects (its data config's mean/std)."""
    arr = np.ascontiguousarray(images)
    x = torch.from_numpy(arr if arr.flags.writeable else arr.copy()).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(clf.mean).view(1, -1, 1, 1)
    std = torch.tensor(clf.std).view(1, -1, 1, 1)
    return (x - mean) / std


@dataclass(frozen=True)
class Detections:
    """Final boxes of one method after the score threshold and NMS per class group, best first (the ranked best
    box, then by score). ``class_ids``/``labels`` name each box's most likely class in its group, ``scores`` are the
    group's summed probability."""

    boxes: np.ndarray  # (M, 4) x0, y0, x1, y1 in the image's pixels (the proposals, without context)
    class_ids: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray
    proposal_index: np.ndarray  # which proposal each box is
    above_threshold: int  # proposals whose best class passed the threshold, before NMS

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class MethodResult:
    """What one method said about every proposal (class probabilities), its detections, its time per stage and
    how its best box was chosen (``None`` without re-ranking)."""

    method: str
    probabilities: np.ndarray  # (N, classes) float32, softmax per proposal
    detections: Detections
    stages: tuple[tuple[str, float], ...]
    ranking: Ranking | None = None

    @property
    def seconds(self) -> float:
        return float(sum(s for _, s in self.stages))

    @property
    def top_classes(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


def detections_from(
    probabilities: np.ndarray,
    boxes: np.ndarray,
    cfg: DetectConfig,
    classes: tuple[str, ...],
    first: int = -1,
    first_box: np.ndarray | None = None,
) -> Detections:
    """Each proposal's best class group, its summed probability and most likely member → score threshold → greedy
    NMS per group → best ``max_detections``. Proposal ``first`` (the ranked best box), if it passes the threshold,
    goes first, drawn as ``first_box`` when given (its voted box), and suppresses its group's overlapping boxes;
    the rest follow by score."""
    b = torch.from_numpy(np.array(boxes, dtype=np.float32)).reshape(-1, 4)
    if first_box is not None and 0 <= first < len(b):
        b[first] = torch.as_tensor(np.asarray(first_box, dtype=np.float32))
    groups, group_scores, members = best_groups(np.asarray(probabilities).reshape(len(b), len(classes)))
    scores = torch.from_numpy(group_scores)
    passed = torch.nonzero(scores >= cfg.score_threshold).flatten()
    priority = scores.clone().double()
    if 0 <= first < len(b):
        priority[first] = 2.0  # above every probability
    order = batched_nms(b[passed].double(), priority[passed], torch.from_numpy(groups)[passed], cfg.nms_iou)
    keep = passed[order][: cfg.max_detections]
    ids = members[keep.numpy()]
    return Detections(
        b[keep].numpy(),
        ids,
        tuple(classes[i] for i in ids),
        scores[keep].numpy(),
        keep.numpy(),
        len(passed),
    )


def nms_steps(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy per-class NMS written out (what ``batched_nms`` does): visit boxes best first; keep one unless a kept
    box of its class overlaps it by more than ``iou``. Returns the kept indices (best first) and, for every box,
    the index of the kept box that suppressed it (-1 for kept ones), so a page can draw who removed whom."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    overlaps = box_iou(b, b).numpy()
    suppressed_by = np.full(len(order), -1)
    kept: list[int] = []
    for i in order:
        for k in kept:
            if classes[k] == classes[i] and overlaps[k, i] > iou:
                suppressed_by[i] = k
                break
        else:
            kept.append(int(i))
    return np.array(kept, dtype=np.int64), suppressed_by


def rcnn_probabilities(
    image: np.ndarray, boxes: np.ndarray, clf: Classifier, cfg: DetectConfig, progress: Progress | None = None
) -> tuple[np.ndarray, tuple[tuple[str, float], ...]]:
    """R-CNN's class probabilities for each proposal: warp every (widened) box, run the whole CNN on each crop."""
    padded = with_context(boxes, cfg.context, clf.input_size[1])
    out, warp_s, cnn_s = [], 0.0, 0.0
    with torch.inference_mode():
        for start in range(0, len(padded), cfg.batch_size):
            t0 = time.perf_counter()
            crops = np.stack([warp(image, b, clf) for b in padded[start : start + cfg.batch_size]])
            x = normalise(crops, clf)
            t1 = time.perf_counter()
            out.append(torch.softmax(clf.model(x), dim=1).numpy())
            t2 = time.perf_counter()
            warp_s, cnn_s = warp_s + t1 - t0, cnn_s + t2 - t1
            if progress:
                progress(min(start + cfg.batch_size, len(padded)), len(padded))
    probs = np.concatenate(out) if out else np.zeros((0, len(clf.classes)), np.float32)
    return probs, (("warp each proposal", warp_s), ("whole CNN on each crop", cnn_s))


def resized(image: np.ndarray, factor: float, clf: Classifier) -> np.ndarray:
    """The image scaled by ``factor`` (at least one feature cell each way), resampled as the data config says."""
    h, w = image.shape[:2]
    size = (max(clf.stride, round(w * factor)), max(clf.stride, round(h * factor)))
    if size == (w, h):
        return image
    resample = Image.Resampling[clf.interpolation.upper()] if clf.interpolation else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize(size, resample, reducing_gap=2.0))


def pyramid_image(
    image: np.ndarray, factor: float, clf: Classifier, cfg: DetectConfig
) -> tuple[np.ndarray, float, float, int]:
    """The photo at one pyramid scale inside a border of the mean colour wide enough for every widened box, so
    that Fast R-CNN sees what R-CNN's warp sees beyond the photo's edge (the mean colour, not missing features).
    Returns the picture, the (x, y) scale from the photo to it and the border's width in pixels."""
    scaled = resized(image, factor, clf)
    h, w = scaled.shape[:2]
    inner = max(clf.input_size[1] - 2 * cfg.context, 1)
    margin = math.ceil(max(h, w) * (clf.input_size[1] / inner - 1) / 2)
    framed = np.empty((h + 2 * margin, w + 2 * margin, 3), np.uint8)
    framed[:] = [round(v * 255) for v in clf.mean]
    framed[margin : margin + h, margin : margin + w] = scaled
    return framed, w / image.shape[1], h / image.shape[0], margin


def feature_map(image: np.ndarray, clf: Classifier) -> torch.Tensor:
    """The trunk's feature map of the whole image, (1, channels, ⌈H/stride⌉, ⌈W/stride⌉)."""
    with torch.inference_mode():
        return clf.trunk(normalise(image[None], clf))


def pyramid_levels(padded: np.ndarray, clf: Classifier, cfg: DetectConfig) -> np.ndarray:
    """For each (widened) box, the index of the pyramid scale that brings it closest to the classifier's input
    size (Fast R-CNN's multi-scale rule): the classifier recognises objects at the size it was trained on."""
    b = np.asarray(padded, dtype=np.float64).reshape(-1, 4)
    side = np.sqrt(np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1.0))
    target = np.sqrt(clf.input_size[0] * clf.input_size[1])
    scales = np.asarray(cfg.pyramid, dtype=np.float64)
    return np.abs(np.log(side[:, None] * scales[None, :] / target)).argmin(axis=1)


def roi_features(features: torch.Tensor, boxes: np.ndarray, clf: Classifier) -> torch.Tensor:
    """Each box's part of the feature map (boxes in the pixels of the image the map was made from), pooled by
    RoIAlign to the head's grid (N, C, 7, 7). Each bin averages as many bilinear samples as the cells it spans."""
    rois = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    return roi_align(features, [rois], clf.roi_size, spatial_scale=1 / clf.stride, sampling_ratio=-1, aligned=True)


def fast_rcnn_probabilities(
    image: np.ndarray, boxes: np.ndarray, clf: Classifier, cfg: DetectConfig
) -> tuple[np.ndarray, tuple[tuple[str, float], ...]]:
    """Fast R-CNN's class probabilities: the trunk once per pyramid scale that some proposal needs, RoIAlign of
    each proposal from its scale's feature map, the classifier's head on each RoI."""
    padded = with_context(boxes, cfg.context, clf.input_size[1])
    levels = pyramid_levels(padded, clf, cfg)
    rois = torch.zeros((len(padded), 0, *clf.roi_size))
    trunk_s = align_s = 0.0
    with torch.inference_mode():
        for level in np.unique(levels):
            t0 = time.perf_counter()
            framed, sx, sy, margin = pyramid_image(image, cfg.pyramid[level], clf, cfg)
            features = feature_map(framed, clf)
            t1 = time.perf_counter()
            mine = np.flatnonzero(levels == level)
            pooled = roi_features(features, padded[mine] * [sx, sy, sx, sy] + margin, clf)
            if rois.shape[1] == 0:
                rois = torch.zeros((len(padded), pooled.shape[1], *clf.roi_size))
            rois[torch.from_numpy(mine)] = pooled
            t2 = time.perf_counter()
            trunk_s, align_s = trunk_s + t1 - t0, align_s + t2 - t1
        t3 = time.perf_counter()
        probs = torch.softmax(clf.head(rois), dim=1).numpy() if len(boxes) else np.zeros((0, len(clf.classes)))
    head_s = time.perf_counter() - t3
    return probs.astype(np.float32), (
        (f"feature maps of the whole image, once per scale ({len(np.unique(levels))})", trunk_s),
        ("RoIAlign", align_s),
        ("head on each RoI", head_s),
    )
