"""A person detector trained in a few CPU-minutes, as a lesson: Faster R-CNN from torchvision's parts.

An ImageNet backbone (MobileNetV2 or EfficientNet-Lite0, installed with the app) is frozen up to its last blocks
and its features are cached once; the last blocks, the region proposal network and the box head train on the
people sample that ships with the app (128 COCO photos) or on a student's labelled zip (COCO JSON, YOLO txt,
Pascal VOC xml: :mod:`cnn_demo.data.boxes`). After each epoch the job measures AP50 on held-out photos with
pycocotools and keeps the RPN's proposals on one of them. Trained on so few photos it is a weak detector: it
teaches how a detector learns, it is not one to trust on other photos.

Parts: :mod:`~cnn_demo.applications.person_detector.model` (the network, preparing photos, save/load),
:mod:`~cnn_demo.applications.person_detector.train` (cache, split, schedule, AP),
:mod:`~cnn_demo.applications.person_detector.job` (the ``detector_train`` job and the files the page reads).
"""

from cnn_demo.applications.person_detector.figures import preview_summary
from cnn_demo.applications.person_detector.job import (
    CONFIG_KEYS,
    DATA_SOURCES,
    UPLOAD_NAME,
    DetectorParams,
    DetectorResult,
    config_from_params,
    load_epochs,
    load_preview,
    load_report,
    train_detector,
)
from cnn_demo.applications.person_detector.model import (
    BACKBONES,
    DetectorConfig,
    PersonDetector,
    is_detector_folder,
    load,
    save,
)
from cnn_demo.applications.person_detector.train import (
    LOSS_NAMES,
    METRIC_LABELS,
    FeatureCache,
    Trainer,
    average_precision,
    cache_features,
    detections,
    split_photos,
)

__all__ = [
    "BACKBONES",
    "CONFIG_KEYS",
    "DATA_SOURCES",
    "LOSS_NAMES",
    "METRIC_LABELS",
    "UPLOAD_NAME",
    "DetectorConfig",
    "DetectorParams",
    "DetectorResult",
    "FeatureCache",
    "PersonDetector",
    "Trainer",
    "average_precision",
    "cache_features",
    "config_from_params",
    "detections",
    "is_detector_folder",
    "load",
    "load_epochs",
    "load_preview",
    "load_report",
    "preview_summary",
    "save",
    "split_photos",
    "train_detector",
]
