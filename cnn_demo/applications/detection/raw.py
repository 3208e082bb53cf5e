"""Post-processing that returns a detector's raw candidates: torchvision's own steps, minus the final NMS.

torchvision's detectors end with ``batched_nms`` and a top-k cut. To re-apply NMS later with any IoU
threshold without running the network again, :mod:`cnn_demo.applications.detection` needs the candidates *before* NMS.
Running torchvision's NMS with threshold 1.0 gives them but costs tens of milliseconds on tens of thousands
of boxes, so these functions repeat torchvision 0.29's ``postprocess_detections`` of Faster R-CNN's ROI heads,
RetinaNet, FCOS and SSD line for line, replacing the last two steps with "the best ``detections_per_img``
candidates by score". They are bound to one model instance (:func:`install`); no class or module is patched.
The equality tests against the unmodified torchvision models guard them against drift.

:func:`score_floor` raises the score cut for the calls inside it (per thread/context, the model is not touched):
a caller that already knows its score threshold (``detection.detect``) then skips the tens of thousands of
hopeless candidates. Greedy NMS decides a box only from higher-scoring boxes, so dropping every box at or
below the threshold first leaves the final result unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.models.detection.ssd import SSD
from torchvision.ops import boxes as box_ops

_FLOOR: contextvars.ContextVar[float] = contextvars.ContextVar("score_floor", default=0.0)


@contextlib.contextmanager
def score_floor(value: float) -> Iterator[None]:
    """Inside this block the raw post-processing keeps only candidates scoring above ``value``."""
    token = _FLOOR.set(float(value))
    try:
        yield
    finally:
        _FLOOR.reset(token)


def _threshold(model_threshold: float) -> float:
    return max(model_threshold, _FLOOR.get())


def _best(scores: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` highest scores, best first (what ``batched_nms`` + ``[:k]`` keeps without overlaps)."""
    return scores.topk(min(k, scores.numel())).indices


def _roi_heads_raw(self, class_logits, box_regression, proposals, image_shapes):
    device = class_logits.device
    num_classes = class_logits.shape[-1]
    boxes_per_image = [b.shape[0] for b in proposals]
    pred_boxes = self.box_coder.decode(box_regression, proposals)
    pred_scores = F.softmax(class_logits, -1)
    all_boxes, all_scores, all_labels = [], [], []
    for boxes, scores, image_shape in zip(
        pred_boxes.split(boxes_per_image, 0), pred_scores.split(boxes_per_image, 0), image_shapes, strict=True
    ):
        boxes = box_ops.clip_boxes_to_image(boxes, image_shape)
        labels = torch.arange(num_classes, device=device).view(1, -1).expand_as(scores)
        boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
        inds = torch.where(scores > _threshold(self.score_thresh))[0]
        boxes, scores, labels = boxes[inds], scores[inds], labels[inds]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = _best(scores, self.detections_per_img)
        all_boxes.append(boxes[keep])
        all_scores.append(scores[keep])
        all_labels.append(labels[keep])
    return all_boxes, all_scores, all_labels


def _ssd_raw(self, head_outputs, image_anchors, image_shapes):
    bbox_regression = head_outputs["bbox_regression"]
    pred_scores = F.softmax(head_outputs["cls_logits"], dim=-1)
    num_classes = pred_scores.size(-1)
    device = pred_scores.device
    detections = []
    for boxes, scores, anchors, image_shape in zip(
        bbox_regression, pred_scores, image_anchors, image_shapes, strict=True
    ):
        boxes = box_ops.clip_boxes_to_image(self.box_coder.decode_single(boxes, anchors), image_shape)
        image_boxes, image_scores, image_labels = [], [], []
        for label in range(1, num_classes):
            score = scores[:, label]
            keep_idxs = score > _threshold(self.score_thresh)
            score, box = score[keep_idxs], boxes[keep_idxs]
            score, idxs = score.topk(det_utils._topk_min(score, self.topk_candidates, 0))
            image_boxes.append(box[idxs])
            image_scores.append(score)
            image_labels.append(torch.full_like(score, fill_value=label, dtype=torch.int64, device=device))
        all_boxes, all_scores, all_labels = torch.cat(image_boxes), torch.cat(image_scores), torch.cat(image_labels)
        keep = _best(all_scores, self.detections_per_img)
        detections.append({"boxes": all_boxes[keep], "scores": all_scores[keep], "labels": all_labels[keep]})
    return detections


def _dense_raw(self, head_outputs, anchors, image_shapes, *, centerness: bool):
    class_logits = head_outputs["cls_logits"]
    box_regression = head_outputs["bbox_regression"]
    ctrness = head_outputs.get("bbox_ctrness")
    detections = []
    for index in range(len(image_shapes)):
        image_boxes, image_scores, image_labels = [], [], []
        for level in range(len(class_logits)):
            logits = class_logits[level][index]
            regression = box_regression[level][index]
            level_anchors = anchors[index][level]
            num_classes = logits.shape[-1]
            if centerness:
                scores = torch.sqrt(torch.sigmoid(logits) * torch.sigmoid(ctrness[level][index])).flatten()
            else:
                scores = torch.sigmoid(logits).flatten()
            keep_idxs = scores > _threshold(self.score_thresh)
            scores = scores[keep_idxs]
            topk_idxs = torch.where(keep_idxs)[0]
            scores, idxs = scores.topk(det_utils._topk_min(topk_idxs, self.topk_candidates, 0))
            topk_idxs = topk_idxs[idxs]
            anchor_idxs = torch.div(topk_idxs, num_classes, rounding_mode="floor")
            labels = topk_idxs % num_classes
            if centerness:
                boxes = self.box_coder.decode(regression[anchor_idxs], level_anchors[anchor_idxs])
            else:
                boxes = self.box_coder.decode_single(regression[anchor_idxs], level_anchors[anchor_idxs])
            image_boxes.append(box_ops.clip_boxes_to_image(boxes, image_shapes[index]))
            image_scores.append(scores)
            image_labels.append(labels)
        all_boxes, all_scores, all_labels = torch.cat(image_boxes), torch.cat(image_scores), torch.cat(image_labels)
        keep = _best(all_scores, self.detections_per_img)
        detections.append({"boxes": all_boxes[keep], "scores": all_scores[keep], "labels": all_labels[keep]})
    return detections


def _retinanet_raw(self, head_outputs, anchors, image_shapes):
    return _dense_raw(self, head_outputs, anchors, image_shapes, centerness=False)


def _fcos_raw(self, head_outputs, anchors, image_shapes):
    return _dense_raw(self, head_outputs, anchors, image_shapes, centerness=True)


def install(model: nn.Module) -> bool:
    """Make this one model instance return raw candidates (no final NMS); False if it is not a known detector."""
    if isinstance(model, SSD):
        model.postprocess_detections = types.MethodType(_ssd_raw, model)
    elif isinstance(model, FCOS):
        model.postprocess_detections = types.MethodType(_fcos_raw, model)
    elif isinstance(model, RetinaNet):
        model.postprocess_detections = types.MethodType(_retinanet_raw, model)
    elif (roi_heads := getattr(model, "roi_heads", None)) is not None and not roi_heads.has_mask():
        roi_heads.postprocess_detections = types.MethodType(_roi_heads_raw, roi_heads)
    else:
        return False
    return True
