"""R-CNN and Fast R-CNN: selective search on generated pictures, RoIAlign against cropping and pooling, NMS
against torchvision, both methods against the plain classifier, the ImageNet animal groups, the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import batched_nms, box_iou, roi_align

from cnn_demo.applications import rcnn
from cnn_demo.applications.rcnn.proposals import group
from cnn_demo.errors import InputError
from tests.conftest import ROOT


def scene(seed: int = 0, size: tuple[int, int] = (160, 200)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy grey-green background with a red disc-topped rectangle: the picture and the object's box."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.clip(rng.normal((90, 120, 90), 12, (h, w, 3)), 0, 255)
    x0, y0, x1, y1 = 60, 40, 140, 120
    yy, xx = np.mgrid[:h, :w]
    obj = (xx >= x0) & (xx < x1) & (yy >= y0 + 20) & (yy < y1)
    obj |= (xx - 100) ** 2 + (yy - 60) ** 2 < 40**2
    obj &= (yy >= y0) & (xx >= x0) & (xx < x1)
    img[obj] = rng.normal((200, 40, 40), 8, (int(obj.sum()), 3))
    return img.astype(np.uint8), np.array([x0, y0, x1, y1], dtype=np.float32)


@pytest.fixture(scope="module")
def clf() -> rcnn.Classifier:
    from cnn_demo import models

    torch.manual_seed(0)
    return rcnn.split_classifier(models.create("tf_efficientnet_lite0"))


# ------------------------------------------------------------------------------------------ selective search


def test_selective_search_proposes_the_object_and_is_deterministic():
    img, box = scene()
    cfg = rcnn.ProposalConfig(max_proposals=60)
    props = rcnn.selective_search(img, cfg)
    assert 5 <= len(props) <= 60
    best = float(box_iou(torch.from_numpy(props.boxes), torch.from_numpy(box[None])).max())
    assert best >= 0.85, best
    b = props.boxes
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= 200).all() and (b[:, 3] <= 160).all()
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    again = rcnn.selective_search(img, cfg)
    np.testing.assert_array_equal(props.boxes, again.boxes)
    assert len(props.hierarchies) == 2 * 2 * 2


def test_selective_search_works_on_a_downscaled_copy_and_returns_image_pixels():
    img, box = scene(size=(160, 200))
    big = np.asarray(Image.fromarray(img).resize((800, 640), Image.Resampling.NEAREST))
    props = rcnn.selective_search(big, rcnn.ProposalConfig(max_side=200, max_proposals=60))
    assert props.hierarchies[0].segments.shape == (160, 200)
    assert props.hierarchies[0].factor == pytest.approx(4.0)
    best = float(box_iou(torch.from_numpy(props.boxes), torch.from_numpy(box[None] * 4)).max())
    assert best >= 0.85, best


def test_grouping_merges_the_most_similar_neighbours_first_down_to_one_region():
    # Three stripes: left and middle nearly the same red, right blue. Colour alone must join left+middle first.
    labels = np.repeat(np.repeat(np.array([[0, 1, 2]]), 20, axis=1), 10, axis=0)
    colour = np.zeros((10, 60, 3))
    colour[:, :20] = (0.9, 0.1, 0.1)
    colour[:, 20:40] = (0.88, 0.1, 0.1)
    colour[:, 40:] = (0.1, 0.1, 0.9)
    merges, sims, boxes = group(labels, colour, "c")
    assert merges.tolist() == [[0, 1], [2, 3]]
    assert sims[0] == pytest.approx(1.0)  # the same histogram bins: intersection 1
    assert sims[1] == pytest.approx(1 / 3)  # only the green channel's bin is shared
    np.testing.assert_array_equal(boxes[3], [0, 0, 40, 10])
    np.testing.assert_array_equal(boxes[4], [0, 0, 60, 10])


def test_size_similarity_prefers_small_regions_and_fill_prefers_compact_unions():
    labels = np.zeros((10, 40), dtype=np.int64)
    labels[:, 10:20] = 1
    labels[:, 20:] = 2
    flat = np.full((10, 40, 3), 0.5)
    merges, _, _ = group(labels, flat, "s")
    assert merges[0].tolist() == [0, 1]  # the two small ones before the big one
    # Two squares side by side over a strip as wide as both: the squares fill their joint box, a square and the
    # strip leave a square's worth of it empty.
    labels = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [1, 1, 1, 1]]).repeat(5, 0).repeat(5, 1)
    merges, _, _ = group(labels, np.full((*labels.shape, 3), 0.5), "f")
    assert merges[0].tolist() == [0, 2]


def test_hierarchy_labels_replay_the_merges():
    img, _ = scene()
    hier = rcnn.selective_search(img, rcnn.ProposalConfig(max_proposals=10)).hierarchies[0]
    np.testing.assert_array_equal(hier.labels_at(0), hier.segments)
    assert len(np.unique(hier.labels_at(len(hier.merges)))) == 1
    some = len(hier.merges) // 2
    assert len(np.unique(hier.labels_at(some))) == hier.n_segments - some


def test_a_blank_picture_has_no_proposals_and_a_tiny_one_is_refused(clf):
    blank = np.full((120, 160, 3), 200, np.uint8)
    props = rcnn.selective_search(blank)
    assert len(props) == 0
    with pytest.raises(InputError, match="no regions to propose"):
        rcnn.compare(blank, clf)
    with pytest.raises(InputError, match="too small"):
        rcnn.selective_search(np.zeros((20, 300, 3), np.uint8))
    with pytest.raises(InputError, match="c, t, s, f"):
        rcnn.ProposalConfig(similarities=("cx",))


# ---------------------------------------------------------------------------------------------- the two methods


def test_context_padding_and_warp_follow_the_paper(clf):
    side = clf.input_size[1]
    padded = rcnn.with_context(np.array([[100, 50, 292, 242]]), 16, side)[0]  # a 192-pixel box
    # warped to 224 pixels, the box itself lands 16 pixels in from every edge
    scale = side / (padded[2] - padded[0])
    assert (100 - padded[0]) * scale == pytest.approx(16)
    assert (padded[3] - 242) * scale == pytest.approx(16)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    crop = rcnn.warp(img, np.array([-60, 0, 60, 100]), clf)  # the left half lies outside the image
    assert crop.shape == (*clf.input_size, 3)
    mean = np.round(np.array(clf.mean) * 255)
    assert (crop[:, : side // 2 - 2] == mean).all()
    inside = np.asarray(Image.fromarray(img[:, :60]).resize((side // 2, side), Image.Resampling.BICUBIC))
    assert np.abs(crop[:, side // 2 :].astype(int) - inside.astype(int)).mean() < 2


def test_roi_align_equals_cropping_and_pooling_on_grid_aligned_boxes(clf):
    torch.manual_seed(0)
    features = torch.randn(1, 8, 20, 24)
    s = clf.stride
    # a box covering exactly 7×7 cells: RoIAlign returns those cells
    box = np.array([[3 * s, 5 * s, 10 * s, 12 * s]], dtype=np.float32)
    got = rcnn.roi_features(features, box, clf)[0]
    torch.testing.assert_close(got, features[0, :, 5:12, 3:10])
    # 14×14 cells: each of the 7×7 bins is the average of 2×2 cells (average pooling of the crop)
    box = np.array([[2 * s, 4 * s, 16 * s, 18 * s]], dtype=np.float32)
    got = rcnn.roi_features(features, box, clf)[0]
    want = torch.nn.functional.avg_pool2d(features[:, :, 4:18, 2:16], 2)[0]
    torch.testing.assert_close(got, want)
    # and torchvision's roi_align is what it calls
    ref = roi_align(features, [torch.from_numpy(box)], (7, 7), 1 / s, sampling_ratio=-1, aligned=True)[0]
    torch.testing.assert_close(got, ref)


def test_each_proposal_is_pooled_at_the_scale_nearest_the_input_size(clf):
    cfg = rcnn.DetectConfig()
    assert cfg.pyramid == (1.0, 0.5, 0.25, 0.125)
    boxes = np.array([[0, 0, 224, 224], [0, 0, 100, 100], [0, 0, 448, 448], [0, 0, 900, 800], [0, 0, 5000, 5000]])
    assert rcnn.pyramid_levels(boxes, clf, cfg).tolist() == [0, 0, 1, 2, 3]
    # a large proposal: pooled from the half-size photo's map, it equals cropping that map
    rng = np.random.default_rng(6)
    img = rng.integers(0, 256, (448, 448, 3), dtype=np.uint8)
    box = np.array([[0, 0, 448, 448]], dtype=np.float32)
    probs, stages = rcnn.fast_rcnn_probabilities(img, box, clf, rcnn.DetectConfig(context=0))
    half = rcnn.resized(img, 0.5, clf)
    assert half.shape == (224, 224, 3)
    with torch.inference_mode():
        want = torch.softmax(clf.model(rcnn.normalise(half[None], clf)), 1).numpy()
    np.testing.assert_allclose(probs, want, atol=1e-5)
    assert "once per scale (1)" in stages[0][0]


def test_both_methods_equal_the_classifier_on_the_whole_input(clf):
    """A 224×224 photo and its whole-image box without context: R-CNN's warp is the identity and Fast R-CNN's
    RoIAlign returns the feature map itself, so both give the plain classifier's probabilities."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (*clf.input_size, 3), dtype=np.uint8)
    box = np.array([[0, 0, clf.input_size[1], clf.input_size[0]]], dtype=np.float32)
    cfg = rcnn.DetectConfig(context=0)
    with torch.inference_mode():
        plain = torch.softmax(clf.model(rcnn.normalise(img[None], clf)), 1).numpy()
    slow, stages = rcnn.rcnn_probabilities(img, box, clf, cfg)
    fast, fast_stages = rcnn.fast_rcnn_probabilities(img, box, clf, cfg)
    np.testing.assert_allclose(slow, plain, atol=1e-5)
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    assert [name for name, _ in stages] == ["warp each proposal", "whole CNN on each crop"]
    assert len(fast_stages) == 3 and all(t >= 0 for _, t in fast_stages)


def test_nms_written_out_equals_torchvision():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 80, (60, 2))
    boxes = np.hstack([xy, xy + rng.uniform(10, 40, (60, 2))]).astype(np.float32)
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    classes = rng.integers(0, 3, 60)
    for iou in (0.2, 0.5, 0.8):
        kept, by = rcnn.nms_steps(boxes, scores, classes, iou)
        want = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou)
        np.testing.assert_array_equal(kept, want.numpy())
        overlaps = box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
        for i in np.flatnonzero(by >= 0):
            assert by[i] in kept and classes[by[i]] == classes[i] and overlaps[by[i], i] > iou
            assert scores[by[i]] >= scores[i]
        assert set(np.flatnonzero(by < 0)) == set(kept)


def test_detections_keep_the_best_class_above_the_threshold_after_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], dtype=np.float32)
    probs = np.zeros((4, 3), np.float32)
    probs[0, 1], probs[1, 1], probs[2, 2], probs[3, 0] = 0.9, 0.8, 0.6, 0.1
    probs[3, 2] = 0.15  # best class 2 at 0.15: under the threshold
    d = rcnn.detections_from(probs, boxes, rcnn.DetectConfig(score_threshold=0.5, nms_iou=0.5), ("a", "b", "c"))
    assert d.labels == ("b", "c") and d.proposal_index.tolist() == [0, 2] and d.above_threshold == 3
    np.testing.assert_allclose(d.scores, [0.9, 0.6])
    d = rcnn.detections_from(probs, boxes, rcnn.DetectConfig(score_threshold=0.5, max_detections=1), ("a", "b", "c"))
    assert d.labels == ("b",)
    empty = rcnn.detections_from(np.zeros((0, 3)), np.zeros((0, 4)), rcnn.DetectConfig(), ("a", "b", "c"))
    assert len(empty) == 0


def patchwork(seed: int = 0, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """Noise with 16 overlapping rectangles of random colours: enough regions for many proposals."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.clip(rng.normal((90, 120, 90), 12, (h, w, 3)), 0, 255)
    for _ in range(16):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        bw, bh = rng.integers(30, 120, 2)
        patch = img[y0 : y0 + bh, x0 : x0 + bw]
        patch[:] = rng.normal(rng.uniform(0, 255, 3), 8, patch.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_compare_on_a_picture_agrees_and_fast_is_faster(clf):
    result = rcnn.compare(patchwork(), clf, proposal_cfg=rcnn.ProposalConfig(max_proposals=24))
    n = len(result.proposals)
    assert n == 24  # the speed claim needs many proposals (one object on a plain background gives only ~5)
    assert result.rcnn.probabilities.shape == result.fast.probabilities.shape == (n, 1000)
    assert result.speedup > 2  # 24 CNN passes against one, even on a small picture
    assert 0 <= result.agreeing <= n and result.agreement == pytest.approx(result.agreeing / n)
    out = result.to_json()
    assert out["proposals"] == n and out["rcnn"]["seconds"] > out["fast_rcnn"]["seconds"]
    assert len(out["rcnn"]["boxes"]) == len(out["rcnn"]["labels"]) == len(out["rcnn"]["scores"])


# ------------------------------------------------------------------------------------------ ImageNet animals


def test_animal_groups_name_the_right_imagenet_classes():
    from cnn_demo.models import class_names

    names = class_names("tf_efficientnet_lite0")
    assert names[151] == "Chihuahua" and names[268] == "Mexican hairless" and names[269] == "timber wolf"
    assert [names[i] for i in rcnn.ANIMAL_CLASSES["cat"]] == [
        "tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat",
    ]  # fmt: skip
    assert names[rcnn.ANIMAL_CLASSES["zebra"][0]] == "zebra"
    assert {names[i] for i in rcnn.ANIMAL_CLASSES["elephant"]} == {"tusker", "Indian elephant", "African elephant"}
    assert "ice bear" in {names[i] for i in rcnn.ANIMAL_CLASSES["bear"]}
    assert rcnn.ANIMAL_CLASSES["giraffe"] == ()
    assert rcnn.animal_of(207) == "dog" and rcnn.animal_of(291) is None  # golden retriever; a lion is no cat
    groups = [set(v) for v in rcnn.ANIMAL_CLASSES.values()]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # no class in two groups


def test_largest_object_and_best_box():
    coco = {
        "categories": [{"id": 17, "name": "cat"}, {"id": 1, "name": "person"}],
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"image_id": 1, "category_id": 17, "bbox": [10, 10, 100, 50]},
            {"image_id": 2, "category_id": 1, "bbox": [0, 0, 100, 100]},
            {"image_id": 2, "category_id": 17, "bbox": [0, 0, 5, 5]},
        ],
    }
    found = rcnn.largest_objects(coco)
    assert [(f, c) for f, c, _ in found] == [("a.jpg", "cat")]
    np.testing.assert_array_equal(found[0][2], [10, 10, 110, 60])
    d = rcnn.Detections(
        np.array([[12, 10, 110, 62], [0, 0, 5, 5]], np.float32),
        np.array([281, 207]),
        ("tabby", "golden retriever"),
        np.array([0.4, 0.9], np.float32),
        np.array([0, 1]),
        2,
    )
    miss = rcnn.best_box(d, "cat", found[0][2])  # the best-scoring box is the dog in the corner
    assert not miss.hit and miss.label == "golden retriever" and not miss.named
    hit = rcnn.best_box(d, "cat", np.array([0, 0, 5, 5]))
    assert not hit.named and hit.iou == pytest.approx(1.0)
    d2 = rcnn.Detections(d.boxes[:1], d.class_ids[:1], d.labels[:1], d.scores[:1], d.proposal_index[:1], 1)
    assert rcnn.best_box(d2, "cat", found[0][2]).hit


# ------------------------------------------------------------------------------------------------ command line


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnn_demo", "rcnn", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )


def test_cli_json_contract(tmp_path):
    img, _ = scene(seed=5, size=(200, 260))
    path = tmp_path / "scene.png"
    Image.fromarray(img).save(path)
    done = _run_cli(str(path), "--json", "--proposals", "20", "--threads", "1")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["image_size"] == [260, 200] and 1 <= out["proposals"] <= 20
    for key in ("rcnn", "fast_rcnn"):
        m = out[key]
        assert len(m["boxes"]) == len(m["labels"]) == len(m["scores"])
        assert m["seconds"] > 0 and all(isinstance(lab, str) for lab in m["labels"])
        for x0, y0, x1, y1 in m["boxes"]:
            assert 0 <= x0 < x1 <= 260 and 0 <= y0 < y1 <= 200
    assert 0 <= out["label_agreement"] <= 1 and out["speedup"] > 1
    assert out["model"] == "tf_efficientnet_lite0"


def test_cli_bad_images_get_clear_messages(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 150), (40, 40, 40)).save(blank)
    done = _run_cli(str(blank), "--json")
    assert done.returncode == 2 and "no regions to propose" in done.stderr and not done.stdout
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (12, 9), (200, 0, 0)).save(tiny)
    done = _run_cli(str(tiny))
    assert done.returncode == 2 and "too small" in done.stderr and "Traceback" not in done.stderr
    done = _run_cli(str(tmp_path / "missing.jpg"))
    assert done.returncode == 2 and "Cannot read the image" in done.stderr


def test_both_methods_name_the_cat_of_a_whole_photo_with_context(clf):
    """Chelsea (scikit-image's tabby) with the paper's 16 pixels of context: R-CNN's warp shows the photo in a
    mean-colour border, Fast R-CNN pools the same box from a feature map of the photo in the same border."""
    from skimage import data

    img = data.chelsea()
    h, w = img.shape[:2]
    box = np.array([[0, 0, w, h]], dtype=np.float32)
    cfg = rcnn.DetectConfig()
    framed, sx, sy, margin = rcnn.pyramid_image(img, 1.0, clf, cfg)
    assert margin == int(np.ceil(w * (224 / 192 - 1) / 2)) and (sx, sy) == (1.0, 1.0)
    assert (framed[:margin] == np.round(np.array(clf.mean) * 255)).all()
    np.testing.assert_array_equal(framed[margin : margin + h, margin : margin + w], img)
    slow, _ = rcnn.rcnn_probabilities(img, box, clf, cfg)
    fast, _ = rcnn.fast_rcnn_probabilities(img, box, clf, cfg)
    cats = list(rcnn.ANIMAL_CLASSES["cat"])
    assert slow[0, cats].sum() > 0.5 and fast[0, cats].sum() > 0.5
    assert slow[0].argmax() in cats and fast[0].argmax() in cats
