"""Overlap and accuracy measures for boxes and masks; detection mAP through pycocotools (COCO's own evaluator)."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence

import numpy as np

from cnn_demo.errors import InputError

#: The 12 numbers COCOeval.summarize() prints, in its order.
COCO_STAT_NAMES: tuple[str, ...] = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def _as_boxes(boxes, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f"{name} must be boxes of four numbers (x0, y0, x1, y1), got shape {arr.shape}.")
    if np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1]):
        raise InputError(f"{name}: each box needs x1 ≥ x0 and y1 ≥ y0.")
    return arr


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N×4, xyxy) with every box in ``b`` (M×4): an N×M array.

    Boxes with no area give IoU 0 with everything.
    """
    a = _as_boxes(a, "The first boxes")
    b = _as_boxes(b, "The second boxes")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_intersection(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float] | None:
    """The overlap rectangle of two xyxy boxes, or ``None`` when they do not overlap."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def mask_iou(a, b) -> np.ndarray | float:
    """IoU |A∩B|/|A∪B| of binary masks: two H×W masks give a float; N×H×W and M×H×W stacks give an N×M array.

    Two empty masks agree perfectly: their IoU is 1.0 (as their :func:`dice`), so a network that rightly finds
    nothing scores 1, not 0. An empty mask against a non-empty one scores 0.
    """
    a = np.asarray(a).astype(bool)
    b = np.asarray(b).astype(bool)
    single = a.ndim == 2 and b.ndim == 2
    if a.ndim == 2:
        a = a[None]
    if b.ndim == 2:
        b = b[None]
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise InputError(f"Masks must have the same height and width, got {a.shape[1:]} and {b.shape[1:]}.")
    fa = a.reshape(len(a), -1).astype(np.float64)
    fb = b.reshape(len(b), -1).astype(np.float64)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    iou = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    return float(iou[0, 0]) if single else iou


def dice(a, b) -> float:
    """Dice coefficient 2|A∩B|/(|A|+|B|) of two binary masks of the same shape (1.0 when both are empty)."""
    a = np.asarray(a).astype(bool)
    b = np.asarray(b).astype(bool)
    if a.shape != b.shape:
        raise InputError(f"Masks must have the same shape, got {a.shape} and {b.shape}.")
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def mean_iou_dice(pred, truth, num_classes: int, ignore: int = 255) -> tuple[float, float]:
    """Mean IoU and mean Dice of label maps over the foreground classes 1 … ``num_classes`` − 1.

    Each class's masks are pooled over all images (``pred`` and ``truth`` of the same shape, any number of
    images); pixels labelled ``ignore`` in ``truth`` do not count. A class absent from both ``pred`` and
    ``truth`` is left out of the means (its empty/empty 1.0 would only flatter them); when no class is present
    anywhere, the maps agree perfectly and both means are 1.0. Each class is scored by :func:`mask_iou` and
    :func:`dice`.
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise InputError(f"Predicted and true label maps must have the same shape, got {pred.shape} and {truth.shape}.")
    valid = (truth != ignore).reshape(1, -1)
    pred, truth = pred.reshape(1, -1), truth.reshape(1, -1)
    ious: list[float] = []
    dices: list[float] = []
    for c in range(1, num_classes):
        p = (pred == c) & valid
        t = (truth == c) & valid
        if not (p.any() or t.any()):
            continue
        ious.append(float(mask_iou(p, t)))
        dices.append(dice(p, t))
    if not ious:
        return 1.0, 1.0
    return float(np.mean(ious)), float(np.mean(dices))


def coco_map(ground_truth: dict, results: list[dict], *, image_ids: Sequence[int] | None = None) -> dict[str, float]:
    """COCO box mAP of ``results`` (``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``) against a COCO
    ground-truth dict, computed by pycocotools' COCOeval. Returns the 12 summary numbers (0..1, -1 = no such object).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = copy.deepcopy(ground_truth)
    if "images" not in gt or "annotations" not in gt or "categories" not in gt:
        raise InputError("The annotation file must be COCO JSON with 'images', 'annotations' and 'categories'.")
    for i, ann in enumerate(gt["annotations"]):
        ann.setdefault("id", i + 1)
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        else:
            # loadRes refuses an empty list; an empty result set still scores 0 where there is ground truth and
            # -1 for area ranges without any, as COCOeval reports them.
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if image_ids is not None:
            ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(COCO_STAT_NAMES, ev.stats, strict=True)}
