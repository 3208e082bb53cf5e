"""COCO's animals as groups of ImageNet-1k classes, to score an ImageNet classifier's boxes against COCO boxes.

ImageNet's 1000 classes are WordNet synsets listed in WordNet's order, so a WordNet group (every dog breed, every
domestic cat) is a run of neighbouring class indices. COCO has one class per animal; ImageNet names breeds and
species. The groups below are those runs, read from the class names (indices of torchvision's / timm's list):

* bird: 7–24 (cock … great grey owl), 80–100 (black grouse … black swan), 127–146 (white stork … albatross)
* dog: 151–268 (Chihuahua … Mexican hairless; the domestic dogs, not wolves or foxes)
* cat: 281–285 (tabby, tiger cat, Persian, Siamese, Egyptian cat; the big cats 286–293 are not COCO's cat)
* bear: 294–297 (brown, American black, ice and sloth bear)
* horse: 339 (sorrel; ImageNet's only horse) and 603 (horse cart)
* zebra: 340
* cow: 345–347 (ox, water buffalo, bison)
* sheep: 348–349 (ram, bighorn)
* elephant: 101 (tusker), 385–386 (Indian and African elephant)
* giraffe: none; ImageNet-1k has no giraffe class, so a giraffe can never be named.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

from cnn_demo.applications.rcnn.detect import Detections


def _runs(*runs: tuple[int, int]) -> tuple[int, ...]:
    return tuple(i for a, b in runs for i in range(a, b + 1))


#: COCO animal → the ImageNet-1k class indices that name it.
ANIMAL_CLASSES: dict[str, tuple[int, ...]] = {
    "bird": _runs((7, 24), (80, 100), (127, 146)),
    "cat": _runs((281, 285)),
    "dog": _runs((151, 268)),
    "horse": (339, 603),
    "sheep": (348, 349),
    "cow": (345, 346, 347),
    "elephant": (101, 385, 386),
    "bear": _runs((294, 297)),
    "zebra": (340,),
    "giraffe": (),
}


def animal_of(class_id: int) -> str | None:
    """The COCO animal an ImageNet class index names, or None."""
    for animal, ids in ANIMAL_CLASSES.items():
        if int(class_id) in ids:
            return animal
    return None


@dataclass(frozen=True)
class BestBox:
    """How the best (highest-scoring) detection of one photo compares with its labelled animal."""

    animal: str
    label: str  # the ImageNet class of the best box ("" when nothing was detected)
    iou: float
    named: bool  # its ImageNet class belongs to the animal's group

    @property
    def hit(self) -> bool:
        """IoU ≥ 0.5 with the animal's box and the right animal."""
        return self.named and self.iou >= 0.5


def best_box(detections: Detections, animal: str, box_xyxy: np.ndarray) -> BestBox:
    """Score the best detection against the labelled ``animal`` box (x0, y0, x1, y1)."""
    if not len(detections):
        return BestBox(animal, "", 0.0, False)
    i = int(np.argmax(detections.scores))
    gt = torch.as_tensor(np.asarray(box_xyxy, dtype=np.float32)).reshape(1, 4)
    iou = float(box_iou(torch.as_tensor(detections.boxes[i : i + 1]), gt)[0, 0])
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
            x, y, w, h = a["bbox"]
            out.append((files[image_id], cls, np.array([x, y, x + w, y + h], dtype=np.float32)))
    return out
