"""The lecture's *Region-based CNNs* with the installed ImageNet CNN: selective search proposes regions, R-CNN
classifies each warped region with the whole CNN, Fast R-CNN shares one feature map and pools each region from it.

>>> from cnn_demo import models
>>> from cnn_demo.applications import rcnn
>>> clf = rcnn.split_classifier(models.create("tf_efficientnet_lite0"))
>>> result = rcnn.compare(image, clf)          # image: (H, W, 3) uint8
>>> result.speedup, result.agreement, result.fast.detections.labels
"""

from cnn_demo.applications.rcnn.animals import BestBox, animal_of, best_box, largest_objects
from cnn_demo.applications.rcnn.detect import (
    Classifier,
    DetectConfig,
    Detections,
    MethodResult,
    detections_from,
    fast_rcnn_probabilities,
    feature_map,
    nms_steps,
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
from cnn_demo.applications.rcnn.groups import (
    ANIMAL_CLASSES,
    Ranking,
    best_groups,
    group_of,
    group_probabilities,
    image_group,
    vote,
)
from cnn_demo.applications.rcnn.pipeline import RANK_STAGE, Comparison, compare, method_result, no_proposals_message
from cnn_demo.applications.rcnn.proposals import (
    MIN_IMAGE_SIDE,
    Hierarchy,
    ProposalConfig,
    Proposals,
    check_image,
    group,
    selective_search,
)
from cnn_demo.applications.rcnn.ranking import cell_activations, fast_erased, outside_fractions, rank, rcnn_erased

__all__ = [
    "ANIMAL_CLASSES",
    "MIN_IMAGE_SIDE",
    "RANK_STAGE",
    "BestBox",
    "Classifier",
    "Comparison",
    "DetectConfig",
    "Detections",
    "Hierarchy",
    "MethodResult",
    "ProposalConfig",
    "Proposals",
    "Ranking",
    "animal_of",
    "best_box",
    "best_groups",
    "cell_activations",
    "check_image",
    "compare",
    "detections_from",
    "fast_erased",
    "fast_rcnn_probabilities",
    "feature_map",
    "group",
    "group_of",
    "group_probabilities",
    "image_group",
    "largest_objects",
    "method_result",
    "nms_steps",
    "no_proposals_message",
    "normalise",
    "outside_fractions",
    "pyramid_image",
    "pyramid_levels",
    "rank",
    "rcnn_erased",
    "rcnn_probabilities",
    "resized",
    "roi_features",
    "selective_search",
    "split_classifier",
    "vote",
    "warp",
    "with_context",
]
