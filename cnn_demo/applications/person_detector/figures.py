"""Pictures of the detector lesson: labelled photos, the RPN's proposals after an epoch, detections on a photo."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from torchvision.utils import draw_bounding_boxes

from cnn_demo.applications.figures import BoxGroup, boxes_figure

TRUTH = "#2ca02c"
PROPOSAL = "#ff7f0e"
DETECTION = "#d62728"


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    colour: str = TRUTH,
    labels: Sequence[str] | None = None,
    width: int | None = None,
) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with ``boxes`` (N, 4) x0, y0, x1, y1 outlined (``width`` pixels, by default one
    250th of the longer side), and optional captions."""
    arr = np.asarray(image, dtype=np.uint8)
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    if not len(b):
        return arr.copy()
    width = width or max(2, round(max(arr.shape[:2]) / 250))
    t = torch.from_numpy(np.array(arr, dtype=np.uint8)).permute(2, 0, 1)
    out = draw_bounding_boxes(t, b, labels=list(labels) if labels else None, colors=colour, width=width)
    return out.permute(1, 2, 0).numpy()


def proposals_figure(
    image: np.ndarray,
    truth: np.ndarray,
    preview: dict,
    *,
    top: int = 20,
    threshold: float = 0.5,
    height: int | None = 480,
) -> go.Figure:
    """The preview photo with its true boxes, the RPN's best ``top`` proposals after one epoch (line width by
    objectness) and the detections scoring at least ``threshold``, as :func:`boxes_figure` draws them."""
    props = np.asarray(preview.get("proposals", []), dtype=float).reshape(-1, 4)[:top]
    obj = list(preview.get("objectness", []))[:top]
    dets = np.asarray(preview.get("boxes", []), dtype=float).reshape(-1, 4)
    scores = np.asarray(preview.get("scores", []), dtype=float)
    keep = scores >= threshold
    groups = [
        BoxGroup("true person boxes", np.asarray(truth, dtype=float).reshape(-1, 4), TRUTH, 3.0),
        BoxGroup(
            "RPN proposals",
            props,
            PROPOSAL,
            1.2,
            "dot",
            [f"proposal, objectness {s:.2f}" for s in obj],
        ),
        BoxGroup(
            f"detections, score ≥ {threshold:.2f}",
            dets[keep],
            DETECTION,
            2.5,
            "solid",
            [f"person {s:.2f}" for s in scores[keep]],
        ),
    ]
    return boxes_figure(image, groups, height=height)


def detections_image(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The photo with the detections scoring at least ``threshold``, captioned ``person 0.87``."""
    keep = np.asarray(scores) >= threshold
    labels = [f"person {s:.2f}" for s in np.asarray(scores)[keep]]
    return draw_boxes(image, np.asarray(boxes).reshape(-1, 4)[keep], DETECTION, labels)


def preview_summary(preview: dict, truth: np.ndarray, threshold: float = 0.5) -> str:
    """One sentence on the preview photo after an epoch: how many true people the RPN's 50 best proposals reach
    (IoU ≥ 0.5, the proposals' recall) and how many detections above ``threshold`` hit a person."""
    from cnn_demo.applications.metrics import box_iou

    truth = np.asarray(truth, dtype=float).reshape(-1, 4)
    props = np.asarray(preview.get("proposals", []), dtype=float).reshape(-1, 4)
    dets = np.asarray(preview.get("boxes", []), dtype=float).reshape(-1, 4)
    scores = np.asarray(preview.get("scores", []), dtype=float)
    dets = dets[scores >= threshold]
    reached = int((box_iou(truth, props).max(axis=1) >= 0.5).sum()) if len(truth) and len(props) else 0
    hits = int((box_iou(dets, truth).max(axis=1) >= 0.5).sum()) if len(truth) and len(dets) else 0
    return (
        f"After epoch {preview.get('epoch', '?')}: the RPN's {len(props)} best proposals reach **{reached} of the "
        f"{len(truth)} people** (IoU ≥ 0.5); **{len(dets)} detection(s)** score at least {threshold:.2f}, "
        f"{hits} of them on a person."
    )
