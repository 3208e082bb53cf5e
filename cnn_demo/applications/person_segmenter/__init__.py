"""A person segmenter trained in about a minute: torchvision's LR-ASPP head on frozen EfficientNet-Lite0 features.

Parts: :mod:`~.model` (settings, network, saving and loading, :func:`segment`), :mod:`~.data` (the shipped people
sample or a student's image/mask pairs, as background / person masks), :mod:`~.train` (features cached once, then the
head), :mod:`~.evaluate` (per-class IoU against the all-background / all-person baselines) and :mod:`~.job` (the
``person_segmenter`` background job).
"""

from cnn_demo.applications.person_segmenter.data import (
    PairData,
    check_pairs_zip,
    foreground_rule,
    load_people,
    load_source,
)
from cnn_demo.applications.person_segmenter.evaluate import (
    baselines,
    class_iou,
    confusion,
    evaluate_folder,
    iou_report,
    truth_rule,
)
from cnn_demo.applications.person_segmenter.job import (
    SegmenterParams,
    SegmenterResult,
    load_previews,
    model_folder,
    train_job,
)
from cnn_demo.applications.person_segmenter.model import (
    BACKBONE,
    PersonMask,
    PersonSegmenter,
    SegmenterConfig,
    load_segmenter,
    read_info,
    save_segmenter,
    segment,
)
from cnn_demo.applications.person_segmenter.train import TrainedSegmenter, train_segmenter

__all__ = [
    "BACKBONE",
    "PairData",
    "PersonMask",
    "PersonSegmenter",
    "SegmenterConfig",
    "SegmenterParams",
    "SegmenterResult",
    "TrainedSegmenter",
    "baselines",
    "check_pairs_zip",
    "class_iou",
    "confusion",
    "evaluate_folder",
    "foreground_rule",
    "iou_report",
    "load_people",
    "load_previews",
    "load_segmenter",
    "load_source",
    "model_folder",
    "read_info",
    "save_segmenter",
    "segment",
    "train_job",
    "train_segmenter",
    "truth_rule",
]
