"""What a labelled box dataset is: its photos and boxes (:class:`BoxDataset`) and the report a student reads."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from cnn_demo.data.boxes.formats import Problem
from cnn_demo.errors import InputError


@dataclass(frozen=True)
class BoxReport:
    """What a student sees before training: photos and boxes read, what was left out and why."""

    source: str
    format: str
    n_images: int
    n_boxes: int
    #: Photos read with no box of the class (they teach what is not one).
    n_without: int
    #: Boxes that crossed the image's border and were cut to it.
    n_clipped: int
    #: (class name, boxes) of the classes that are not learnt, most frequent first.
    other_classes: tuple[tuple[str, int], ...] = ()
    #: Crowd regions (COCO ``iscrowd``), left out.
    n_crowd: int = 0
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors

    def reasons(self) -> list[tuple[str, int]]:
        """(reason, count) of the problems, most frequent first."""
        return Counter(p.reason for p in self.problems).most_common()


@dataclass(frozen=True, eq=False)
class BoxDataset:
    """Photos (RGB uint8, longer side at most the limits' ``max_side``) and the boxes of one class on each."""

    images: tuple[np.ndarray, ...]
    #: Per photo an (N, 4) float32 array of x0, y0, x1, y1 in that photo's pixels (N may be 0).
    boxes: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    report: BoxReport
    class_name: str = "person"

    def __len__(self) -> int:
        return len(self.images)

    def require_trainable(self) -> None:
        """Raise :class:`InputError` saying what blocks training, if anything does."""
        if self.report.errors:
            raise InputError(" ".join(self.report.errors))

    def subset(self, indices) -> BoxDataset:
        """The photos at ``indices`` (same report)."""
        idx = [int(i) for i in indices]
        return BoxDataset(
            tuple(self.images[i] for i in idx),
            tuple(self.boxes[i] for i in idx),
            tuple(self.names[i] for i in idx),
            self.report,
            self.class_name,
        )

    def to_coco(self, category_id: int = 1) -> dict:
        """The boxes as COCO ground truth (image ids 1…N in order), for pycocotools."""
        images = [
            {"id": i + 1, "file_name": n, "width": int(a.shape[1]), "height": int(a.shape[0])}
            for i, (n, a) in enumerate(zip(self.names, self.images, strict=True))
        ]
        anns: list[dict] = []
        for i, b in enumerate(self.boxes):
            for x0, y0, x1, y1 in np.asarray(b, dtype=float).reshape(-1, 4):
                w, h = x1 - x0, y1 - y0
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": i + 1,
                        "category_id": category_id,
                        "bbox": [x0, y0, w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
        return {"images": images, "annotations": anns, "categories": [{"id": category_id, "name": self.class_name}]}
