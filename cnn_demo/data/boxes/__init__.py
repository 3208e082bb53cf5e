"""Labelled boxes for training a detector: the people sample, or a student's zip in COCO JSON, YOLO txt or VOC xml.

:mod:`~cnn_demo.data.boxes.formats` parses each format from bytes (a bad line or box is a :class:`Problem`, never
the whole upload); :mod:`~cnn_demo.data.boxes.reader` finds the format and the photos in a zip or folder (read safely
through :mod:`cnn_demo.io.archive`), matches each annotation to its photo (:mod:`~cnn_demo.data.boxes.matching`),
checks every box against its photo and reports what it read and left out;
:mod:`~cnn_demo.data.boxes.types` holds the dataset and its report; :mod:`~cnn_demo.data.boxes.export` writes
boxes in each format (the page's example zips).
"""

from cnn_demo.data.boxes.export import FORMATS, to_zip
from cnn_demo.data.boxes.formats import Labels, Problem, parse_coco, parse_voc, parse_yolo, parse_yolo_names
from cnn_demo.data.boxes.reader import (
    BOX_LIMITS,
    PERSON_NAMES,
    load_boxes,
    load_people_sample,
    read_box_folder,
    read_box_zip,
)
from cnn_demo.data.boxes.types import BoxDataset, BoxReport

__all__ = [
    "BOX_LIMITS",
    "FORMATS",
    "PERSON_NAMES",
    "BoxDataset",
    "BoxReport",
    "Labels",
    "Problem",
    "load_boxes",
    "load_people_sample",
    "parse_coco",
    "parse_voc",
    "parse_yolo",
    "parse_yolo_names",
    "read_box_folder",
    "read_box_zip",
    "to_zip",
]
