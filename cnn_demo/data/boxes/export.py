"""Boxes written in the layout each labelling format uses, as a zip: the page's example zips, and test data.

* ``coco``: ``images/*.jpg`` and ``annotations.json`` (``bbox`` = [x, y, width, height]).
* ``yolo``: ``images/*.jpg``, ``labels/*.txt`` (``0 cx cy w h``, fractions of the photo) and ``classes.txt``.
* ``voc``: ``JPEGImages/*.jpg`` and ``Annotations/*.xml`` (1-based ``xmin ymin xmax ymax``, end pixel included).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import PurePosixPath
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from cnn_demo.data.boxes.types import BoxDataset
from cnn_demo.errors import InputError

#: Format keys and what a student's labelling tool calls them.
FORMATS: dict[str, str] = {"coco": "COCO JSON", "yolo": "YOLO txt", "voc": "Pascal VOC xml"}


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _voc_xml(name: str, width: int, height: int, cls: str, boxes: np.ndarray) -> str:
    objects = "".join(
        f"<object><name>{escape(cls)}</name><difficult>0</difficult><bndbox><xmin>{round(x0) + 1}</xmin>"
        f"<ymin>{round(y0) + 1}</ymin><xmax>{round(x1)}</xmax><ymax>{round(y1)}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><folder>JPEGImages</folder><filename>{escape(name)}</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>{objects}</annotation>\n"
    )


def to_zip(ds: BoxDataset, fmt: str) -> bytes:
    """The photos and boxes of ``ds`` as a zip in format ``fmt`` (a key of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise InputError(f"Unknown box format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    buf = io.BytesIO()
    coco: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": ds.class_name}]}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if fmt == "yolo":
            zf.writestr("classes.txt", ds.class_name + "\n")
        for i, (name, image, boxes) in enumerate(zip(ds.names, ds.images, ds.boxes, strict=True), start=1):
            stem = PurePosixPath(name).stem
            h, w = image.shape[:2]
            b = np.asarray(boxes, dtype=float).reshape(-1, 4)
            folder = "JPEGImages" if fmt == "voc" else "images"
            zf.writestr(f"{folder}/{stem}.jpg", _jpeg(image))
            if fmt == "coco":
                coco["images"].append({"id": i, "file_name": f"{stem}.jpg", "width": w, "height": h})
                coco["annotations"] += [
                    {
                        "id": len(coco["annotations"]) + k + 1,
                        "image_id": i,
                        "category_id": 1,
                        "iscrowd": 0,
                        "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    }
                    for k, (x0, y0, x1, y1) in enumerate(b)
                ]
            elif fmt == "yolo":
                lines = [
                    f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"
                    for x0, y0, x1, y1 in b
                ]
                zf.writestr(f"labels/{stem}.txt", "".join(line + "\n" for line in lines))
            else:
                zf.writestr(f"Annotations/{stem}.xml", _voc_xml(f"{stem}.jpg", w, h, ds.class_name, b))
        if fmt == "coco":
            zf.writestr("annotations.json", json.dumps(coco))
    return buf.getvalue()
