"""Run the network once (raw candidates), filter many times (NMS, score, classes, count): detections of an image."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torchvision.ops import batched_nms

from cnn_demo.applications.detection import raw as detection_raw
from cnn_demo.applications.detection.networks import (
    DEFAULT_DETECTOR,
    Detector,
    DetectorInfo,
    as_rgb_image,
    build_detector,
    detector_info,
)
from cnn_demo.device import get_device
from cnn_demo.errors import InputError


@dataclass(frozen=True)
class RawDetections:
    """A detector's raw candidates on one image (original-image pixels), best score first."""

    boxes: np.ndarray  # (N, 4) float32, xyxy
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int64, COCO category ids
    image_size: tuple[int, int]  # (width, height)
    seconds: float
    masks: np.ndarray | None = None  # (N, H, W) bool for Mask R-CNN
    score_floor: float = 0.0  # candidates scoring at or below this may have been dropped in the network's pass


@dataclass(frozen=True)
class Detections:
    """Final detections: boxes (xyxy, original-image pixels), scores, class names, optional instance masks."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]
    label_ids: np.ndarray
    image_size: tuple[int, int]
    seconds: float = 0.0
    masks: np.ndarray | None = None
    model: str = ""
    pretrained: bool = True
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def box_labels(self) -> list[str]:
        """The class names as every box label shows them: an untrained network's start with UNTRAINED."""
        tag = "" if self.pretrained else "UNTRAINED "
        return [tag + name for name in self.labels]

    def rows(self) -> list[dict]:
        """One dict per detection for a table: class, score, box corners, width and height (an untrained network's
        classes are marked UNTRAINED)."""
        out = []
        for name, score, (x0, y0, x1, y1) in zip(self.box_labels, self.scores, self.boxes, strict=True):
            out.append(
                {
                    "class": name,
                    "score": round(float(score), 3),
                    "x0": round(float(x0), 1),
                    "y0": round(float(y0), 1),
                    "x1": round(float(x1), 1),
                    "y1": round(float(y1), 1),
                    "width": round(float(x1 - x0), 1),
                    "height": round(float(y1 - y0), 1),
                }
            )
        return out


@torch.inference_mode()
def run_detector(detector: Detector, image: Image.Image | np.ndarray, *, score_floor: float = 0.0) -> RawDetections:
    """Run the network once on ``image`` with the weights entry's preprocessing; return its raw candidates.

    ``score_floor`` drops candidates scoring at or below it inside the network's pass (cheaper when the
    caller's score threshold is known); the result can then only be filtered with thresholds at or above it.
    """
    img = as_rgb_image(image)
    tensor = detector.info.weights_entry.transforms()(img).to(get_device())
    start = time.perf_counter()
    with detection_raw.score_floor(score_floor):
        out = detector.model([tensor])[0]
    seconds = time.perf_counter() - start
    masks = None
    if "masks" in out:
        masks = (out["masks"][:, 0] > 0.5).cpu().numpy()
    return RawDetections(
        boxes=out["boxes"].cpu().numpy().astype(np.float32),
        scores=out["scores"].cpu().numpy().astype(np.float32),
        labels=out["labels"].cpu().numpy().astype(np.int64),
        image_size=img.size,
        seconds=seconds,
        masks=masks,
        score_floor=float(score_floor),
    )


def _class_ids(categories: list[str], classes) -> set[int] | None:
    if classes is None:
        return None
    wanted = {classes} if isinstance(classes, str) else set(classes)
    ids = {i for i, c in enumerate(categories) if c in wanted}
    unknown = wanted - set(categories)
    if unknown:
        raise InputError(f"Unknown class name(s): {', '.join(sorted(map(str, unknown)))}. Use COCO class names.")
    return ids


def filter_detections(
    raw: RawDetections,
    info: DetectorInfo,
    *,
    score_threshold: float = 0.5,
    iou_threshold: float | None = None,
    classes=None,
    max_detections: int | None = None,
    pretrained: bool = True,
) -> Detections:
    """NMS (``torchvision.ops.batched_nms``, per class), then score threshold, class filter and maximum count."""
    if not 0.0 <= score_threshold <= 1.0:
        raise InputError("The score threshold must be between 0 and 1.")
    if score_threshold < raw.score_floor:
        raise ValueError(f"These candidates were cut at score {raw.score_floor}; run the detector with a lower floor.")
    iou = info.default_iou if iou_threshold is None else float(iou_threshold)
    if not 0.0 <= iou <= 1.0:
        raise InputError("The NMS IoU threshold must be between 0 and 1.")
    limit = info.default_max if max_detections is None else int(max_detections)
    if limit < 0:
        raise InputError("The maximum number of detections cannot be negative.")
    categories = info.categories
    boxes = torch.from_numpy(raw.boxes)
    scores = torch.from_numpy(raw.scores)
    labels = torch.from_numpy(raw.labels)
    keep = batched_nms(boxes, scores, labels, iou)[:limit]
    keep = keep[scores[keep] > score_threshold]
    wanted = _class_ids(categories, classes)
    if wanted is not None:
        keep = keep[torch.tensor([int(labels[i]) in wanted for i in keep], dtype=torch.bool)]
    idx = keep.numpy()
    ids = raw.labels[idx]
    return Detections(
        boxes=raw.boxes[idx],
        scores=raw.scores[idx],
        labels=[categories[i] for i in ids],
        label_ids=ids,
        image_size=raw.image_size,
        seconds=raw.seconds,
        masks=None if raw.masks is None else raw.masks[idx],
        model=info.name,
        pretrained=pretrained,
    )


def detect(
    image: Image.Image | np.ndarray,
    model: str | Detector = DEFAULT_DETECTOR,
    score_threshold: float = 0.5,
    iou_threshold: float | None = None,
    classes=None,
    pretrained: bool = True,
    *,
    max_detections: int | None = None,
) -> Detections:
    """Detect objects in ``image`` with torchvision detector ``model`` (a name, or a :class:`Detector` built once
    for many images: a name builds the network on every call).

    Boxes are xyxy in pixels of the original image; ``labels`` are COCO class names; ``masks`` exist for
    Mask R-CNN. ``iou_threshold=None`` uses the model's own NMS threshold; ``classes`` keeps only those
    class names. ``pretrained=False`` uses seeded random weights (an untrained network; ignored for a
    :class:`Detector`). With the same weights and thresholds this equals running the torchvision model with
    ``weights.transforms()``.
    """
    if isinstance(model, Detector):
        detector = model
    else:
        detector = build_detector(detector_info(model).name, pretrained=bool(pretrained))
    if not 0.0 <= score_threshold <= 1.0:
        raise InputError("The score threshold must be between 0 and 1.")
    raw = run_detector(detector, image, score_floor=score_threshold)
    return filter_detections(
        raw,
        detector.info,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        classes=classes,
        max_detections=max_detections,
        pretrained=detector.pretrained,
    )
