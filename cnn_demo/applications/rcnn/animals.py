"""COCO's animals against an ImageNet classifier's boxes: which photos to test on, and whether the best box
found and named the animal (the groups of ImageNet classes are in :mod:`cnn_demo.applications.rcnn.groups`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_convert, box_iou

from cnn_demo.applications.rcnn.detect import Detections
from cnn_demo.applications.rcnn.groups import ANIMAL_CLASSES


def animal_of(class_id: int) -> str | None:
    """The COCO animal an ImageNet class index names, or None."""
    for animal, ids in ANIMAL_CLASSES.items():
        if int(class_id) in ids:
            return animal
    return None


@dataclass(frozen=True)
class BestBox:
    """How the best detection of one photo (the first: ranked best) compares with its labelled animal."""

    animal: str
    label: str  # the ImageNet class of the best box ("" when nothing was detected)
    iou: float
    named: bool  # its ImageNet class belongs to the animal's group

    @property
    def hit(self) -> bool:
        """IoU ≥ 0.5 with the animal's box and the right animal."""
        return self.named and self.iou >= 0.5


def best_box(detections: Detections, animal: str, box_xyxy: np.ndarray) -> BestBox:
    """Score the best detection (the first) against the labelled ``animal`` box (x0, y0, x1, y1)."""
    if not len(detections):
        return BestBox(animal, "", 0.0, False)
    i = 0
    gt = torch.as_tensor(np.asarray(box_xyxy, dtype=np.float32)).reshape(1, 4)
    iou = float(box_iou(torch.as_tensor(np.array(detections.boxes[i], dtype=np.float32)).reshape(1, 4), gt)[0, 0])
    return BestBox(animal, detections.labels[i], iou, int(detections.class_ids[i]) in ANIMAL_CLASSES[animal])


def largest_objects(coco: dict, animals: set[str] | None = None) -> list[tuple[str, str, np.ndarray]]:
    """(file name, COCO class, xyxy box) of each image whose largest labelled box is one of ``animals``
    (default: every group of :data:`ANIMAL_CLASSES`), from a COCO-format annotation dict."""
    wanted = set(ANIMAL_CLASSES) if animals is None else animals
    names = {c["id"]: c["name"] for c in coco.get("categories", [])}
    files = {im["id"]: im["file_name"] for im in coco.get("images", [])}
    largest: dict[int, dict] = {}
    for a in coco.get("annotations", []):
        area = a["bbox"][2] * a["bbox"][3]
        if a["image_id"] not in largest or area > largest[a["image_id"]]["bbox"][2] * largest[a["image_id"]]["bbox"][3]:
            largest[a["image_id"]] = a
    out = []
    for image_id, a in sorted(largest.items()):
        cls = names.get(a["category_id"], "")
        if cls in wanted and image_id in files:
            xyxy = box_convert(torch.tensor(a["bbox"], dtype=torch.float64), "xywh", "xyxy")
            out.append((files[image_id], cls, xyxy.numpy().astype(np.float32)))
    return out
