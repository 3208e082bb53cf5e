"""The lecture's *Region-based CNNs* with the installed ImageNet CNN: selective search proposes regions, R-CNN
classifies each warped region with the whole CNN, Fast R-CNN shares one feature map and pools each region from it.

>>> from cnn_demo import models
>>> from cnn_demo.applications import rcnn
>>> clf = rcnn.split_classifier(models.create("tf_efficientnet_lite0"))
>>> result = rcnn.compare(image, clf)          # image: (H, W, 3) uint8
>>> result.speedup, result.agreement, result.fast.detections.labels
"""

from cnn_demo.applications.rcnn.animals import ANIMAL_CLASSES, BestBox, animal_of, best_box, largest_objects
from cnn_demo.applications.rcnn.detect import (
    Classifier,
    Comparison,
    DetectConfig,
    Detections,
    MethodResult,
    compare,
    detections_from,
    fast_rcnn_probabilities,
    feature_map,
    nms_steps,
    no_proposals_message,
    normalise,
    pyramid_image,
    pyramid_levels,
    rcnn_probabilities,
    resized,
    roi_features,
    split_classifier,
    warp,
    with_context,
)
from cnn_demo.applications.rcnn.proposals import (
    MIN_IMAGE_SIDE,
    Hierarchy,
    ProposalConfig,
    Proposals,
    check_image,
    group,
    selective_search,
)

__all__ = [
    "ANIMAL_CLASSES",
    "MIN_IMAGE_SIDE",
    "BestBox",
    "Classifier",
    "Comparison",
    "DetectConfig",
    "Detections",
    "Hierarchy",
    "MethodResult",
    "ProposalConfig",
    "Proposals",
    "animal_of",
    "best_box",
    "check_image",
    "compare",
    "detections_from",
    "fast_rcnn_probabilities",
    "feature_map",
    "group",
    "largest_objects",
    "nms_steps",
    "no_proposals_message",
    "normalise",
    "pyramid_image",
    "pyramid_levels",
    "rcnn_probabilities",
    "resized",
    "roi_features",
    "selective_search",
    "split_classifier",
    "warp",
    "with_context",
]
