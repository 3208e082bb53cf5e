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
    image: np.ndarray, boxes: np.ndarray, colour: str = TRUTH, labels: Sequence[str] | None = None
) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with ``boxes`` (N, 4) x0, y0, x1, y1 outlined, and optional captions."""
    arr = np.asarray(image, dtype=np.uint8)
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    if not len(b):
        return arr.copy()
    width = max(2, round(max(arr.shape[:2]) / 250))
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
            f"RPN proposals (best {len(props)})",
            props,
            PROPOSAL,
            1.2,
            "dot",
            [f"proposal, objectness {s:.2f}" for s in obj],
        ),
        BoxGroup(
            f"detections ≥ {threshold:.2f}",
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
