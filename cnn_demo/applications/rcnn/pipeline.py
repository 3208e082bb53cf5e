"""Both methods end to end on one photo: selective search, R-CNN's and Fast R-CNN's class probabilities for the
same proposals, the erase test that picks each method's best box, and what the comparison measures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cnn_demo.applications.rcnn.detect import (
    Classifier,
    DetectConfig,
    MethodResult,
    Progress,
    detections_from,
    fast_rcnn_probabilities,
    rcnn_probabilities,
)
from cnn_demo.applications.rcnn.proposals import ProposalConfig, Proposals, check_image, selective_search
from cnn_demo.applications.rcnn.ranking import rank
from cnn_demo.errors import InputError

RANK_STAGE = "erase test of the best class's boxes"


def method_result(
    method: str,
    image: np.ndarray,
    boxes: np.ndarray,
    probabilities: np.ndarray,
    stages: tuple[tuple[str, float], ...],
    clf: Classifier,
    cfg: DetectConfig,
) -> MethodResult:
    """One method's detections from its probabilities, with its best box first when ``cfg.rerank`` (its erase test
    timed as one more stage)."""
    ranking = rank(method, image, boxes, probabilities, clf, cfg) if cfg.rerank and len(boxes) else None
    first = ranking.chosen if ranking else -1
    if ranking:
        stages = (*stages, (RANK_STAGE, ranking.seconds))
    dets = detections_from(probabilities, boxes, cfg, clf.classes, first, ranking.box if ranking else None)
    return MethodResult(method, probabilities, dets, stages, ranking)


@dataclass(frozen=True)
class Comparison:
    """R-CNN and Fast R-CNN on the same proposals of one image."""

    proposals: Proposals
    rcnn: MethodResult
    fast: MethodResult

    @property
    def agreeing(self) -> int:
        """How many proposals both methods give the same best class."""
        return int((self.rcnn.top_classes == self.fast.top_classes).sum())

    @property
    def agreement(self) -> float:
        """The share of proposals both methods give the same best class."""
        return self.agreeing / len(self.proposals) if len(self.proposals) else 0.0

    def agreement_by_size(self, edges: tuple[int, ...] = (64, 128, 256)) -> list[tuple[str, int, int]]:
        """(size range, proposals agreeing, proposals) by the proposal's side √(width × height) in pixels: the
        shared map gives a small box only a few cells, so its label drifts furthest from R-CNN's."""
        b = self.proposals.boxes
        side = np.sqrt(np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 0))
        same = self.rcnn.top_classes == self.fast.top_classes
        bounds = [0, *edges, np.inf]
        rows = []
        for lo, hi in itertools.pairwise(bounds):
            inside = (side >= lo) & (side < hi)
            label = f"< {hi:.0f} px" if lo == 0 else f"≥ {lo:.0f} px" if hi == np.inf else f"{lo:.0f}–{hi:.0f} px"
            rows.append((label, int(same[inside].sum()), int(inside.sum())))
        return rows

    @property
    def speedup(self) -> float:
        """How many times faster Fast R-CNN classified the proposals (and erase-tested its best box's candidates)
        than R-CNN; the proposals are not counted."""
        return self.rcnn.seconds / max(self.fast.seconds, 1e-9)

    def to_json(self) -> dict:
        """Boxes (x0, y0, x1, y1 in the image's pixels), labels, scores and seconds of both methods."""

        def method(r: MethodResult) -> dict:
            d, k = r.detections, r.ranking
            best = None
            if k is not None and k.chosen >= 0:
                j = int(np.flatnonzero(k.candidates == k.chosen)[0])
                best = {
                    "group": k.name,
                    "proposal_index": k.chosen,
                    "top_score_proposal": k.top,
                    "inside": round(float(k.inside[j]), 4),
                    "outside_when_erased": round(float(k.outside[j]), 4),
                    "candidates": len(k.candidates),
                    "box": [round(float(v), 2) for v in k.box],
                    "voters": int(k.voters.sum()),
                }
            return {
                "boxes": [[round(float(v), 2) for v in box] for box in d.boxes],
                "labels": list(d.labels),
                "class_ids": [int(i) for i in d.class_ids],
                "scores": [round(float(s), 4) for s in d.scores],
                "proposal_index": [int(i) for i in d.proposal_index],
                "seconds": round(r.seconds, 4),
                "stages": {name: round(s, 4) for name, s in r.stages},
                "best": best,
            }

        return {
            "image_size": list(self.proposals.image_size),
            "proposals": len(self.proposals),
            "proposal_seconds": round(self.proposals.seconds, 4),
            "rcnn": method(self.rcnn),
            "fast_rcnn": method(self.fast),
            "label_agreement": round(self.agreement, 4),
            "label_agreement_by_size": [
                {"size": label, "same": same, "proposals": n} for label, same, n in self.agreement_by_size()
            ],
            "speedup": round(self.speedup, 2),
        }


def no_proposals_message() -> str:
    return (
        "Selective search found no regions to propose in this picture (it looks blank or almost one colour), "
        "so there is nothing to classify. Try a photo with objects in it."
    )


def compare(
    image: np.ndarray,
    clf: Classifier,
    cfg: DetectConfig = DetectConfig(),
    proposal_cfg: ProposalConfig = ProposalConfig(),
    proposals: Proposals | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Selective search, then R-CNN and Fast R-CNN on the same proposals of ``image`` (H, W, 3 uint8), each with
    its best box first."""
    arr = check_image(image)
    props = selective_search(arr, proposal_cfg) if proposals is None else proposals
    if not len(props):
        raise InputError(no_proposals_message())
    probs, stages = rcnn_probabilities(arr, props.boxes, clf, cfg, progress)
    rcnn = method_result("R-CNN", arr, props.boxes, probs, stages, clf, cfg)
    probs, stages = fast_rcnn_probabilities(arr, props.boxes, clf, cfg)
    fast = method_result("Fast R-CNN", arr, props.boxes, probs, stages, clf, cfg)
    return Comparison(props, rcnn, fast)
