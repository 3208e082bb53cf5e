"""How good a segmenter is: per-class IoU from a confusion matrix (255 ignored), against the trivial baselines.

IoU of a class = true positives / (true positives + false positives + false negatives), the pixels pooled over
all images (PASCAL VOC's measure). The baselines paint every pixel one class: "all background" scores 0 on the
person class, "all person" scores the person share of the pixels; a segmenter must beat both.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnn_demo.applications.person_segmenter.data import IGNORE, ForegroundRule, foreground_rule, mask_values
from cnn_demo.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def confusion(pred: np.ndarray, truth: np.ndarray, num_classes: int = 2, ignore: int = IGNORE) -> np.ndarray:
    """Pixel counts (truth class × predicted class), ``num_classes`` square; truth pixels equal to ``ignore`` (or out
    of range) do not count."""
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise InputError(f"The predicted and true masks differ in size: {pred.shape} and {truth.shape}.")
    valid = (truth != ignore) & (truth < num_classes)
    t = truth[valid].astype(np.int64)
    p = np.clip(pred[valid].astype(np.int64), 0, num_classes - 1)
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def class_iou(conf: np.ndarray) -> list[float | None]:
    """IoU of each class from a confusion matrix; ``None`` for a class in neither the truth nor the prediction."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    return [float(tp[c] / union[c]) if union[c] > 0 else None for c in range(len(conf))]


def iou_report(conf: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """``{"iou": {class: IoU}, "mean_iou", "pixel_accuracy"}`` of a confusion matrix."""
    ious = class_iou(conf)
    present = [v for v in ious if v is not None]
    total = float(np.sum(conf))
    return {
        "iou": dict(zip(classes, ious, strict=True)),
        "mean_iou": float(np.mean(present)) if present else None,
        "pixel_accuracy": float(np.trace(conf) / total) if total else None,
    }


def baselines(conf: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The :func:`iou_report` of painting every pixel one class (``"all background"``, ``"all person"``) on the
    same pixels as ``conf``."""
    truth = np.asarray(conf).sum(1)
    out = {}
    for k, name in enumerate(classes):
        constant = np.zeros_like(np.asarray(conf))
        constant[:, k] = truth
        out[f"all {name}"] = iou_report(constant, classes)
    return out


def _image_for(stem: str, images: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for candidate in (images / f"{stem}{suffix}", images / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def truth_rule(masks: Sequence[np.ndarray], person_class: int | None = None) -> ForegroundRule:
    """Which value of evaluation masks is the person: ``person_class`` when given, else 1 in 0/1 masks and 15 in
    PASCAL VOC masks (values up to 20); other label spaces must say it."""
    if person_class is not None:
        if not 0 < person_class < IGNORE:
            raise InputError("The person class must be a mask value from 1 to 254.")
        return ForegroundRule(person_class, "person", f"mask value {person_class} is the person")
    values = mask_values(masks)
    rule = foreground_rule(values)
    if rule.value is None:
        raise InputError(
            f"These masks hold class numbers up to {max(values - {IGNORE})}: say which one is the person with "
            "--person-class (it is 1 for COCO category ids)."
        )
    return rule


def evaluate_folder(
    model, images: str | Path, masks: str | Path, *, person_class: int | None = None, limit: int = 0
) -> dict[str, Any]:
    """Segment every image that has a mask (same file stem) and score it: per-class IoU pooled over the images,
    the all-background / all-person baselines on the same pixels, seconds per image."""
    from cnn_demo.applications.person_segmenter.model import segment
    from cnn_demo.data.datasets import load_mask
    from cnn_demo.io.images import load_image

    images, masks = Path(images), Path(masks)
    for folder in (images, masks):
        if not folder.is_dir():
            raise InputError(f"The folder {folder} does not exist.")
    mask_files = sorted(p for p in masks.iterdir() if p.suffix.lower() in (".png", ".bmp", ".tif", ".tiff"))
    if limit:
        mask_files = mask_files[:limit]
    pairs: list[tuple[Path, np.ndarray]] = []
    skipped: list[str] = []
    for path in mask_files:
        image = _image_for(path.stem, images)
        if image is None:
            skipped.append(f"{path.name}: no image {path.stem}.* in {images}")
            continue
        pairs.append((image, load_mask(path.read_bytes())))
    if not pairs:
        raise InputError(f"No mask in {masks} has an image of the same name in {images}.")
    rule = truth_rule([m for _, m in pairs], person_class)
    n = len(model.classes)
    conf = np.zeros((n, n), dtype=np.int64)
    seconds = []
    for image, mask in pairs:
        img = load_image(image.read_bytes())
        if img.size != (mask.shape[1], mask.shape[0]):
            skipped.append(f"{image.name}: image {img.width}×{img.height}, mask {mask.shape[1]}×{mask.shape[0]}")
            continue
        out = segment(model, img)
        seconds.append(out.seconds)
        conf += confusion(out.labels, rule.apply(mask), n)
    if not seconds:
        raise InputError("No image had a mask of its size.")
    return {
        "images": len(seconds),
        "classes": list(model.classes),
        "mask_rule": rule.why,
        **iou_report(conf, model.classes),
        "baselines": baselines(conf, model.classes),
        "pixels": {name: int(conf[k].sum()) for k, name in enumerate(model.classes)},
        "seconds_per_image": statistics.median(seconds),
        "skipped": skipped,
    }
