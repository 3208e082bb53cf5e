"""Object detection with torchvision's COCO detectors: run once, filter many times, look inside Faster R-CNN.

The expensive part (the network) and the cheap part (score threshold, non-maximum suppression, class
filter, maximum count) are separate, so a page can cache :func:`run_detector`'s raw candidates and move
its sliders without running the network again:

* :func:`build_detector` builds a detector whose own post-processing keeps (almost) every candidate:
  no score floor, no NMS (:mod:`cnn_demo.applications.detection.raw`), up to :data:`RAW_CANDIDATES` boxes, best first.
* :func:`filter_detections` then applies ``torchvision.ops.batched_nms`` with the model's default (or the
  user's) IoU threshold, the score threshold, the class filter and the maximum count.

Greedy NMS keeps or drops a box only because of higher-scoring boxes, so NMS over the top-K candidates
keeps exactly the boxes that NMS over all candidates keeps among those K; with the same thresholds the
result therefore equals torchvision's own post-processing (tested). Mask R-CNN is the exception: pasting
a mask for every candidate would need gigabytes, so its raw pass keeps the model's own NMS (IoU 0.5) and
its top 100 boxes with their masks; its NMS slider can only tighten that.

Preprocessing and class names come from each model's torchvision weights entry. Pretrained files are
looked up offline (:mod:`cnn_demo.weights`); ``pretrained=False`` gives the same architecture with
random weights drawn from a fixed seed, which proves the pipeline but detects nothing meaningful.
"""

from cnn_demo.applications.detection.internals import RCNNInternals, anchors_at, faster_rcnn_internals
from cnn_demo.applications.detection.networks import (
    DEFAULT_DETECTOR,
    DETECTORS,
    MASK_RAW_CANDIDATES,
    RAW_CANDIDATES,
    Detector,
    DetectorInfo,
    as_rgb_image,
    build_detector,
    detector_info,
)
from cnn_demo.applications.detection.output import (
    UNTRAINED_TEXT,
    draw_detections,
    palette_colour,
    to_coco_json,
    untrained_banner,
)
from cnn_demo.applications.detection.pipeline import Detections, RawDetections, detect, filter_detections, run_detector

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "MASK_RAW_CANDIDATES",
    "RAW_CANDIDATES",
    "UNTRAINED_TEXT",
    "Detections",
    "Detector",
    "DetectorInfo",
    "RCNNInternals",
    "RawDetections",
    "anchors_at",
    "as_rgb_image",
    "build_detector",
    "detect",
    "detector_info",
    "draw_detections",
    "faster_rcnn_internals",
    "filter_detections",
    "palette_colour",
    "run_detector",
    "to_coco_json",
    "untrained_banner",
]
