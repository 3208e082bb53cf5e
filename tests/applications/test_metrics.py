"""Box/mask IoU against hand-computed cases and torchvision; mAP through pycocotools on a known answer."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as tv_box_iou

from cnn_demo.applications.metrics import box_intersection, box_iou, coco_map, dice, mask_iou, mean_iou_dice
from cnn_demo.errors import InputError
from tests.conftest import ROOT, shared_path


def test_box_iou_hand_computed():
    # Two 2×2 squares overlapping in a 1×1 square: IoU = 1 / (4 + 4 - 1) = 1/7.
    assert box_iou([0, 0, 2, 2], [1, 1, 3, 3])[0, 0] == pytest.approx(1 / 7)
    assert box_iou([0, 0, 2, 2], [0, 0, 2, 2])[0, 0] == 1.0
    assert box_iou([0, 0, 1, 1], [2, 2, 3, 3])[0, 0] == 0.0  # apart
    assert box_iou([0, 0, 1, 1], [1, 0, 2, 1])[0, 0] == 0.0  # touching edges
    assert box_iou([0, 0, 4, 4], [1, 1, 2, 2])[0, 0] == pytest.approx(1 / 16)  # one inside the other
    assert box_iou([1, 1, 1, 1], [0, 0, 2, 2])[0, 0] == 0.0  # empty box
    assert box_intersection([0, 0, 2, 2], [1, 1, 3, 3]) == (1, 1, 2, 2)
    assert box_intersection([0, 0, 1, 1], [2, 2, 3, 3]) is None
    with pytest.raises(InputError):
        box_iou([2, 0, 1, 1], [0, 0, 1, 1])
    with pytest.raises(InputError):
        box_iou([[0, 0, 1]], [0, 0, 1, 1])


def test_box_iou_matches_torchvision():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (7, 2))
    a = np.hstack([xy, xy + rng.uniform(1, 30, (7, 2))])
    xy = rng.uniform(0, 50, (5, 2))
    b = np.hstack([xy, xy + rng.uniform(1, 30, (5, 2))])
    np.testing.assert_allclose(box_iou(a, b), tv_box_iou(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-12)


def test_mask_iou_and_dice():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2, :2] = True  # 4 pixels
    b[1:3, 1:3] = True  # 4 pixels, 1 shared
    assert mask_iou(a, b) == pytest.approx(1 / 7)
    assert dice(a, b) == pytest.approx(2 / 8)
    assert mask_iou(a, np.zeros_like(a)) == 0.0
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    stack = mask_iou(np.stack([a, b]), np.stack([a, b, ~a]))
    np.testing.assert_allclose(stack, [[1, 1 / 7, 0], [1 / 7, 1, 3 / 13]])  # b∩~a = 3 px, union 12 + 4 - 3
    with pytest.raises(InputError):
        mask_iou(a, np.zeros((3, 3)))


def test_two_empty_masks_agree_perfectly_once_for_every_measure():
    empty = np.zeros((5, 6), bool)
    assert mask_iou(empty, empty) == 1.0 and dice(empty, empty) == 1.0
    full = ~empty
    np.testing.assert_allclose(mask_iou(np.stack([empty, full]), np.stack([empty, full])), [[1, 0], [0, 1]])
    assert mean_iou_dice(np.zeros((2, 5, 6)), np.zeros((2, 5, 6)), 4) == (1.0, 1.0)  # nothing anywhere: perfect
    # A class absent from both maps is left out of the means, not counted as a perfect 1.
    pred, truth = np.zeros((5, 6), int), np.zeros((5, 6), int)
    pred[:2, :3], truth[1:3, :3] = 1, 1  # class 1: 3 shared of 9 pixels in the union; classes 2 and 3 absent
    assert mean_iou_dice(pred, truth, 4) == (pytest.approx(3 / 9), pytest.approx(6 / 12))
    from cnn_demo.applications import unet

    assert unet.iou_dice(pred, truth, 4) == mean_iou_dice(pred, truth, 4)  # the U-Net page's metric is this one


def test_mean_iou_dice_equals_a_direct_numpy_computation():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, (3, 17, 19))
    truth[rng.random(truth.shape) < 0.1] = 255
    pred = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 5, truth.shape)) % 255
    pred[pred == 3] = 0  # a class predicted nowhere: IoU 0 where the truth has it
    truth[truth == 4] = 0  # a class only predicted: IoU 0 too
    ious, dices = [], []
    valid = truth != 255
    for c in range(1, 6):  # class 5 is in neither map: left out
        p, t = (pred == c) & valid, (truth == c) & valid
        if p.sum() + t.sum() == 0:
            continue
        inter = (p & t).sum()
        ious.append(inter / (p | t).sum())
        dices.append(2 * inter / (p.sum() + t.sum()))
    assert len(ious) == 4
    iou, dc = mean_iou_dice(pred, truth, 6)
    assert iou == pytest.approx(np.mean(ious), abs=1e-12) and dc == pytest.approx(np.mean(dices), abs=1e-12)
    with pytest.raises(InputError, match="same shape"):
        mean_iou_dice(pred, truth[:2], 6)


def _ground_truth() -> dict:
    return {
        "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40]},
            {"image_id": 1, "category_id": 2, "bbox": [60, 50, 30, 40]},
            {"image_id": 2, "category_id": 1, "bbox": [5, 5, 50, 60]},
        ],
    }


def test_coco_map_known_answers():
    gt = _ground_truth()
    perfect = [dict(a, score=0.9) for a in gt["annotations"]]
    stats = coco_map(gt, perfect)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
    # Wrong class everywhere: 0.
    wrong = [dict(a, category_id=3 - a["category_id"], score=0.9) for a in gt["annotations"]]
    assert coco_map(gt, wrong)["AP"] == pytest.approx(0.0)
    # Cat perfect, dog box shifted to IoU 0.6 (AP50 counts it, AP75 does not): per class AP75 = (1 + 0) / 2.
    shifted = [dict(a, score=0.9) for a in gt["annotations"]]
    shifted[1] = dict(shifted[1], bbox=[60, 50 + 10, 30, 40])  # overlap 30×30 / (1200 + 1200 - 900) = 0.6
    stats = coco_map(gt, shifted)
    assert stats["AP50"] == pytest.approx(1.0)
    assert stats["AP75"] == pytest.approx(0.5)
    assert coco_map(gt, [])["AP"] == 0.0
    with pytest.raises(InputError):
        coco_map({"images": []}, perfect)


def test_evaluate_detection_cli(tmp_path):
    folder = shared_path("coco_sample", "val2017")
    out = subprocess.run(
        [sys.executable, "-m", "cnn_demo", "evaluate-detection", "--images", str(folder),
         "--annotations", str(folder / "instances_val2017_boxes_from_yolo.json"), "--limit", "2", "--random-weights"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "on 2 images" in out.stdout and "AP50" in out.stdout and "documented box mAP" in out.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "nope.jpg"}], "annotations": [], "categories": []}))
    out = subprocess.run(
        [sys.executable, "-m", "cnn_demo", "evaluate-detection", "--images", str(tmp_path), "--annotations", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and "error:" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.pretrained
@pytest.mark.slow
def test_pretrained_map_on_the_val2017_sample_is_near_torchvision():
    from cnn_demo.applications.detection import DEFAULT_DETECTOR, detect, detector_info
    from cnn_demo.io.images import load_image
    from cnn_demo.weights import weights_available

    info = detector_info(DEFAULT_DETECTOR)
    if not weights_available(info.weights_entry):
        pytest.skip("COCO weights of the default detector are absent")
    folder = shared_path("coco_sample", "val2017")
    gt = json.loads((folder / "instances_val2017_boxes_from_yolo.json").read_text())
    results = []
    for entry in gt["images"]:
        dets = detect(load_image((folder / "images" / entry["file_name"]).read_bytes()), score_threshold=0.05)
        for cid, score, (x0, y0, x1, y1) in zip(dets.label_ids, dets.scores, dets.boxes, strict=True):
            results.append({"image_id": entry["id"], "category_id": int(cid), "score": float(score),
                            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]})  # fmt: skip
    stats = coco_map(gt, results)
    # 128 images with boxes converted from YOLO labels: close to, not exactly, the documented full-val figure.
    assert abs(stats["AP"] - info.coco_map / 100) < 0.08


def test_coco_map_of_no_detections_is_minus_one_where_there_is_no_ground_truth():
    """All annotations are medium (32² < area < 96²): small and large ranges have no ground truth → −1."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = _ground_truth()
    for i, ann in enumerate(gt["annotations"]):
        ann.update(id=i + 1, iscrowd=0, area=float(ann["bbox"][2] * ann["bbox"][3]))
    stats = coco_map(gt, [])
    # pycocotools' own answer for a result set that finds nothing (one box far from every object, scored low).
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        miss = coco_gt.loadRes([{"image_id": 1, "category_id": 1, "bbox": [95, 95, 4, 4], "score": 0.01}])
        ev = COCOeval(coco_gt, miss, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert list(stats.values()) == [float(v) for v in ev.stats]
    assert stats["AP"] == 0.0 and stats["AP_small"] == -1.0 and stats["AP_large"] == -1.0
    assert stats["AR_small"] == -1.0 and stats["AR_medium"] == 0.0
