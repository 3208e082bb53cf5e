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
    # The best box is the first (ranked best), not the highest score: the tabby, though the dog scores higher.
    assert rcnn.best_box(d, "cat", found[0][2]).hit
    flipped = rcnn.Detections(d.boxes[::-1], d.class_ids[::-1], d.labels[::-1], d.scores[::-1], d.proposal_index, 2)
    miss = rcnn.best_box(flipped, "cat", found[0][2])  # the dog in the corner ranked first
    assert not miss.hit and miss.label == "golden retriever" and not miss.named
    hit = rcnn.best_box(flipped, "cat", np.array([0, 0, 5, 5]))
    assert not hit.named and hit.iou == pytest.approx(1.0)


# ------------------------------------------------------------------------------------- groups and the best box


def imagenet_probs(rows: list[dict[int, float]]) -> np.ndarray:
    """(len(rows), 1000) probabilities: the given classes, the rest spread evenly."""
    out = np.zeros((len(rows), 1000), np.float32)
    for k, row in enumerate(rows):
        rest = 1 - sum(row.values())
        out[k] = rest / (1000 - len(row))
        for c, v in row.items():
            out[k, c] = v
    return out


def test_a_dogs_breeds_are_scored_together_and_the_label_names_the_likeliest():
    from cnn_demo.models import class_names

    names = class_names("tf_efficientnet_lite0")
    heater = names.index("space heater")
    # Box 0: five breeds at 0.14 each (a dog, 0.7 in all) and a heater at 0.25; box 1 elsewhere: a heater at 0.5.
    probs = imagenet_probs([{207: 0.16, 208: 0.14, 209: 0.14, 210: 0.13, 211: 0.13, heater: 0.25}, {heater: 0.5}])
    boxes = np.array([[0, 0, 50, 50], [100, 100, 150, 150]], np.float32)
    d = rcnn.detections_from(probs, boxes, rcnn.DetectConfig(score_threshold=0.3), names)
    assert d.labels == ("golden retriever", "space heater"), d.labels  # per class, the heater would win box 0
    np.testing.assert_allclose(d.scores, [0.7, 0.5], atol=0.01)
    g = rcnn.group_of(1000)
    assert (g[list(rcnn.ANIMAL_CLASSES["dog"])] == 151).all() and g[heater] == heater and g[291] == 291
    assert (rcnn.group_of(3) == [0, 1, 2]).all()  # another classifier: no groups


def test_the_photo_group_is_a_confident_vote_and_the_ranked_box_goes_first():
    # One speck is sure it is a dog; four boxes are fairly sure of a cat: the photo is about the cat.
    probs = imagenet_probs([{207: 0.99}, {281: 0.8}, {282: 0.7}, {281: 0.75}, {283: 0.8}])
    assert rcnn.image_group(probs) == 281
    boxes = np.array([[0, 0, 10, 10], [0, 0, 100, 100], [5, 5, 90, 90], [0, 0, 60, 60], [200, 0, 260, 60]], np.float32)
    cfg = rcnn.DetectConfig(score_threshold=0.5, nms_iou=0.5)
    plain = rcnn.detections_from(probs, boxes, cfg, tuple(f"c{i}" for i in range(1000)))
    assert plain.proposal_index[0] == 0  # by score, the speck
    ranked = rcnn.detections_from(probs, boxes, cfg, tuple(f"c{i}" for i in range(1000)), first=2)
    # Proposal 2 goes first and suppresses the cat box it overlaps (IoU 0.72), not the dog nor the far cat.
    assert ranked.proposal_index.tolist() == [2, 0, 4, 3], ranked.proposal_index
    from cnn_demo.applications.rcnn.groups import candidates

    scores = rcnn.group_probabilities(probs)[:, 281]
    assert candidates(scores, boxes, 0.5, 2).tolist() == [1, 2]  # the largest of those ≥ half the best
    assert candidates(np.zeros(3), boxes[:3], 0.5, 4).size == 0


def red_classifier() -> rcnn.Classifier:
    """A toy CNN that says "red" when red pixels are in view: trunk = redness per pixel (stride 1), head = 1×1
    conv, batch norm (identity), average pooling, a linear layer; input 16×16, mean colour grey."""
    from torch import nn

    trunk = nn.Conv2d(3, 1, 1, bias=False)
    head_conv = nn.Conv2d(1, 1, 1, bias=False)
    linear = nn.Linear(1, 2)
    with torch.no_grad():
        trunk.weight[:] = torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1)
        head_conv.weight.fill_(1.0)
        linear.weight[:] = torch.tensor([[60.0], [0.0]])
        linear.bias[:] = torch.tensor([-3.0, 0.0])
    trunk_relu = nn.Sequential(trunk, nn.ReLU())
    head = nn.Sequential(head_conv, nn.Identity(), nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), linear)
    model = nn.Sequential(trunk_relu, head).eval()
    return rcnn.Classifier(
        "red", model, trunk_relu, head, 1, (16, 16), (0.5,) * 3, (0.5,) * 3, "bilinear", ("red", "other")
    )


@pytest.mark.parametrize("method", ["R-CNN", "Fast R-CNN"])
def test_the_erase_test_prefers_the_whole_object_to_a_part_and_to_the_background(method):
    img = np.full((64, 64, 3), 128, np.uint8)
    img[20:44, 20:44] = (200, 40, 40)
    boxes = np.array([[20, 20, 32, 32], [20, 20, 44, 44], [0, 0, 64, 64]], np.float32)  # part, object, photo
    probs = np.array([[0.99, 0.01], [0.95, 0.05], [0.9, 0.1]], np.float32)  # the part scores highest
    clf = red_classifier()
    cfg = rcnn.DetectConfig(context=0, pyramid=(1.0,))
    k = rcnn.rank(method, img, boxes, probs, clf, cfg)
    assert k.top == 0 and k.name == "red" and k.candidates.tolist() == [2, 1, 0]
    left = dict(zip(k.candidates.tolist(), k.outside.tolist(), strict=True))
    assert left[0] > 0.5 and left[1] < 0.2 and left[2] < 0.2, left  # a part leaves red outside, the object none
    assert k.chosen == 1, (k.scores, left)
    d = rcnn.detections_from(probs, boxes, cfg, clf.classes, k.chosen)
    assert d.proposal_index[0] == 1


def test_outside_fractions_weigh_each_cell_by_the_share_the_box_leaves():
    centres = np.stack(np.meshgrid([1.0, 3.0, 5.0], [1.0, 3.0]), axis=-1)  # 2 rows × 3 columns of 2-px cells
    w = rcnn.outside_fractions(np.array([[1, 0, 5, 2], [0, 0, 6, 4], [10, 10, 12, 12]], np.float32), centres)
    # Box 0 covers half of cell (0, 0), all of (0, 1), half of (0, 2) and nothing of the second row.
    np.testing.assert_allclose(w[0].reshape(2, 3), [[0.5, 0.0, 0.5], [1, 1, 1]])
    np.testing.assert_allclose(w[1], 0.0)  # the whole grid erased
    np.testing.assert_allclose(w[2], 1.0)  # a box beside the grid erases nothing


def test_fast_erase_test_sees_exactly_the_pixels_the_box_leaves():
    """A box whose left and top edges cut cells in half: the red left beside it is what the head must see.
    Leaving out whole cells by their centres (the old rule) erased that red too."""
    img = np.full((64, 64, 3), 128, np.uint8)
    img[20:44, 20:44] = (200, 40, 40)
    box = np.array([[21, 21, 44, 44]], np.float32)  # red 1 px wide stays left and above it; cells are 2 px
    clf = red_classifier()
    cfg = rcnn.DetectConfig(context=0, pyramid=(1.0,))
    got = rcnn.fast_erased(img, box, 0, clf, cfg)
    with torch.inference_mode():
        redness = clf.trunk(rcnn.normalise(img[None], clf))[0, 0].numpy()
        outside = np.ones((64, 64), bool)
        outside[21:44, 21:44] = False
        mean = torch.tensor([[float(redness[outside].mean())]])
        want = torch.softmax(clf.head[-1](mean), dim=1)[0, 0].item()
    assert want > 0.1  # the red strips are visible (the photo without any red: 0.05)
    assert got[0] == pytest.approx(want, abs=1e-4)


def test_box_voting_averages_the_overlapping_boxes_by_score():
    boxes = np.array([[18, 20, 42, 44], [22, 20, 46, 44], [20, 16, 44, 40], [100, 100, 120, 120]], np.float64)
    box, voters = rcnn.vote(boxes, np.array([0.5, 0.5, 0.0, 0.9]), best=0, iou=0.5)
    # Boxes 0 and 1 err left and right by as much and weigh the same: their average is the object's box. Box 2
    # overlaps but has no weight, box 3 is far away.
    np.testing.assert_allclose(box, [20, 20, 44, 44])
    assert voters.tolist() == [True, True, False, False]
    box, _ = rcnn.vote(boxes, np.array([0.9, 0.1, 0.0, 0.0]), best=0, iou=0.5)
    np.testing.assert_allclose(box, [18.4, 20, 42.4, 44])  # weighted towards the surer box
    box, voters = rcnn.vote(boxes, np.zeros(4), best=1, iou=0.5)  # nothing to weigh: the best box alone
    np.testing.assert_allclose(box, boxes[1])
    assert voters.tolist() == [False, True, False, False]


@pytest.mark.parametrize("method", ["R-CNN", "Fast R-CNN"])
def test_the_best_box_is_voted_by_the_candidates_around_it_and_goes_first(method):
    """Two proposals err on either side of the red square: the erase test keeps one, voting centres it."""
    img = np.full((64, 64, 3), 128, np.uint8)
    img[20:44, 20:44] = (200, 40, 40)
    boxes = np.array([[17, 20, 41, 44], [23, 20, 47, 44], [0, 0, 64, 64]], np.float32)
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.5, 0.5]], np.float32)  # the photo: unsure inside
    clf = red_classifier()
    cfg = rcnn.DetectConfig(context=0, pyramid=(1.0,))
    k = rcnn.rank(method, img, boxes, probs, clf, cfg)
    assert k.chosen in (0, 1) and k.voters.sum() == 2, (k.scores, k.voters)
    assert abs(k.box[0] - 20) < 1 and abs(k.box[2] - 44) < 1, k.box  # within a pixel of the square
    d = rcnn.detections_from(probs, boxes, cfg, clf.classes, k.chosen, k.box)
    assert d.proposal_index[0] == k.chosen
    np.testing.assert_allclose(d.boxes[0], k.box, atol=1e-4)
    off = rcnn.rank(method, img, boxes, probs, clf, rcnn.DetectConfig(context=0, pyramid=(1.0,), vote_iou=1.0))
    np.testing.assert_allclose(off.box, boxes[off.chosen])  # voting at IoU 1: the proposal itself


def test_compare_ranks_each_methods_best_box_and_reports_it(clf):
    result = rcnn.compare(patchwork(), clf, proposal_cfg=rcnn.ProposalConfig(max_proposals=24))
    for m in (result.rcnn, result.fast):
        k = m.ranking
        assert k is not None and 1 <= len(k.candidates) <= 32 and k.chosen in k.candidates
        assert dict(m.stages)[rcnn.RANK_STAGE] == pytest.approx(k.seconds)
        if len(m.detections) and m.detections.scores.max() >= 0.2 and k.inside.max() >= 0.2:
            assert m.detections.proposal_index[0] == k.chosen
    out = result.to_json()["rcnn"]["best"]
    assert out["proposal_index"] == result.rcnn.ranking.chosen and 0 <= out["outside_when_erased"] <= 1
    assert out["box"] == result.to_json()["rcnn"]["boxes"][0] and 1 <= out["voters"] <= out["candidates"]
    plain = rcnn.compare(patchwork(), clf, rcnn.DetectConfig(rerank=False), rcnn.ProposalConfig(max_proposals=24))
    assert plain.rcnn.ranking is None and rcnn.RANK_STAGE not in dict(plain.rcnn.stages)


def test_the_best_box_finds_the_bear_of_a_val2017_photo(clf):
    """COCO val2017 000000000285: one bear fills most of the photo. By score alone R-CNN's best box was its head
    (IoU 0.33); the erase test picks the bear for both methods."""
    from tests.conftest import shared_path

    coco = json.loads(
        shared_path("coco_sample", "val2017", "instances_val2017_boxes_from_yolo.json").read_text(encoding="utf-8")
    )
    name, animal, box = next(item for item in rcnn.largest_objects(coco) if item[0] == "000000000285.jpg")
    image = np.asarray(Image.open(shared_path("coco_sample", "val2017", "images", name)).convert("RGB"))
    result = rcnn.compare(image, clf)
    for m in (result.rcnn, result.fast):
        best = rcnn.best_box(m.detections, animal, box)
        assert best.hit, (m.method, best)


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
    for key in ("rcnn", "fast_rcnn"):
        best = out[key]["best"]
        assert best is None or 0 <= best["proposal_index"] < out["proposals"]


def test_cli_text_marks_the_best_box_of_each_method():
    from cnn_demo.cli.rcnn import text_report

    def method(best: int | None) -> dict:
        return {
            "seconds": 1.5,
            "boxes": [[0, 0, 10, 10], [5, 5, 20, 20]],
            "labels": ["tabby", "Egyptian cat"],
            "scores": [0.8, 0.9],
            "proposal_index": [7, 3],
            "best": None if best is None else {"proposal_index": best},
        }

    out = {"image": "cat.jpg", "proposals": 40, "proposal_seconds": 0.5, "speedup": 9.5, "label_agreement": 0.42}
    lines = text_report({**out, "rcnn": method(7), "fast_rcnn": method(None)}).splitlines()
    assert lines[0] == "cat.jpg: 40 proposals by selective search in 0.50 s"
    assert lines[1] == "R-CNN: 1.500 s, 2 boxes"
    assert lines[2].endswith("<- best box (erase test, voted)") and "tabby" in lines[2]
    assert "best box" not in lines[3]
    assert lines[4] == "Fast R-CNN: 1.500 s, 2 boxes" and not any("best box" in line for line in lines[5:])
    assert lines[-1] == "Fast R-CNN is 9.5× faster; same top label on 42% of proposals"


def test_cli_bad_images_get_clear_messages(tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 150), (40, 40, 40)).save(blank)
    done = _run_cli(str(blank), "--json")
    assert done.returncode == 2 and "no regions to propose" in done.stderr and not done.stdout
    # The same front door in this process (one interpreter start is enough to test the real exit above).
    from cnn_demo.cli import main

    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (12, 9), (200, 0, 0)).save(tiny)
    assert main(["rcnn", str(tiny)]) == 2
    err = capsys.readouterr().err
    assert "too small" in err and "Traceback" not in err
    assert main(["rcnn", str(tmp_path / "missing.jpg")]) == 2
    assert "Cannot read the image" in capsys.readouterr().err


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
