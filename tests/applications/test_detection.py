"""cnn_demo.applications.detection against bare torchvision detectors with the same seeded random weights."""

from __future__ import annotations

import copy
import dataclasses
import functools
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnn_demo import models
from cnn_demo.applications import detection as D
from cnn_demo.errors import InputError
from cnn_demo.io.images import load_image
from cnn_demo.io.samples import load_sample
from cnn_demo.weights import WeightsCorrupt, WeightsMissing, weights_available

FAST = "fasterrcnn_mobilenet_v3_large_320_fpn"
SSD = "ssdlite320_mobilenet_v3_large"


@functools.cache
def untrained(name: str) -> D.Detector:
    """The seeded untrained detector ``name`` (what ``detect(..., pretrained=False)`` builds), once per test run."""
    return D.build_detector(name, pretrained=False)


def scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A small colourful test picture: a gradient with a few filled rectangles."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 90)], -1)
    for _ in range(4):
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
        img[y0 : y0 + rng.integers(10, height // 2), x0 : x0 + rng.integers(10, width // 2)] = rng.integers(0, 255, 3)
    return img.astype(np.uint8)


def threshold_between(scores, q: float, gap: float = 1e-5) -> float:
    """A score threshold near the ``q`` quantile lying halfway between two candidates' scores, at least ``gap``
    apart: ours and torchvision's scores may differ in the last bits (different kernels, another machine's SIMD),
    and a threshold equal to one score (what ``np.quantile`` can return) would then keep a box on one side only."""
    s = np.sort(np.asarray(scores, np.float64))
    i = int(q * (s.size - 1))
    while i + 2 < s.size and s[i + 1] - s[i] < gap:
        i += 1
    assert s[i + 1] - s[i] >= gap, "no two scores far enough apart for a threshold between them"
    return float((s[i] + s[i + 1]) / 2)


def bare_torchvision(name: str, image, **kwargs) -> dict:
    """What torchvision itself returns: the model built with ``kwargs``, fed ``weights.transforms()(image)``."""
    model = models.create(name, pretrained=False, **kwargs)
    transform = D.detector_info(name).weights_entry.transforms()
    with torch.inference_mode():
        out = model([transform(D.as_rgb_image(image))])[0]
    return {k: v.numpy() for k, v in out.items()}


def _thresholds(name: str, score: float, iou: float) -> dict:
    if name.startswith("fasterrcnn"):
        return {"box_score_thresh": score, "box_nms_thresh": iou}
    return {"score_thresh": score, "nms_thresh": iou}


@pytest.mark.parametrize(("name", "iou"), [(FAST, 0.3), (FAST, 0.7), (SSD, 0.5)])
def test_detect_equals_bare_torchvision(name, iou):
    img = scene(301, 203)
    raw = D.run_detector(untrained(name), img)  # the network detect() builds
    score = threshold_between(raw.scores, 0.8)  # random weights: pick a threshold that keeps some boxes
    ours = D.detect(img, name, score_threshold=score, iou_threshold=iou, pretrained=False)
    ref = bare_torchvision(name, img, **_thresholds(name, score, iou))
    assert len(ours) > 5
    assert len(ours) == len(ref["boxes"])
    np.testing.assert_allclose(ours.boxes, ref["boxes"], atol=1e-4)
    np.testing.assert_allclose(ours.scores, ref["scores"], atol=1e-6)
    np.testing.assert_array_equal(ours.label_ids, ref["labels"])
    categories = D.detector_info(name).categories
    assert ours.labels == [categories[i] for i in ref["labels"]]
    assert not ours.pretrained


def test_default_nms_and_count_match_torchvision():
    from torchvision.models import get_model

    for info in D.DETECTORS:
        if "resnet50" in info.name and info.name != "retinanet_resnet50_fpn_v2":
            continue  # building every ResNet-50 detector costs seconds; RetinaNet stands for the one-stage ones
        model = get_model(info.name, weights=None, weights_backbone=None, num_classes=len(info.categories))
        heads = getattr(model, "roi_heads", model)
        assert heads.nms_thresh == info.default_iou, info.name
        assert heads.detections_per_img == info.default_max, info.name


def test_boxes_in_original_pixels_for_odd_sizes():
    # 1001×257 is shrunk to about 640×164 inside the network; boxes must come back in the 1001×257 frame.
    img = scene(1001, 257, seed=3)
    raw = D.run_detector(untrained(FAST), img)
    assert raw.image_size == (1001, 257)
    assert raw.boxes[:, 2].max() > 700  # would be ≤ 640 in the network's resized frame
    assert raw.boxes[:, [0, 2]].min() >= 0 and raw.boxes[:, [0, 2]].max() <= 1001
    assert raw.boxes[:, [1, 3]].min() >= 0 and raw.boxes[:, [1, 3]].max() <= 257


def test_exif_rotated_upload():
    arr = scene(200, 120, seed=5)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", exif=exif, quality=95)
    loaded = load_image(buf.getvalue())
    assert loaded.size == (120, 200)
    dets = D.detect(loaded, FAST, score_threshold=0.0, pretrained=False)
    assert dets.image_size == (120, 200)
    assert dets.boxes[:, 2].max() <= 120 and dets.boxes[:, 3].max() <= 200
    assert dets.boxes[:, 3].max() > 150  # spans the tall side: the rotation was applied
    # A PIL image still carrying its EXIF tag is rotated the same way by detect itself.
    direct = D.detect(Image.open(io.BytesIO(buf.getvalue())), FAST, score_threshold=0.0, pretrained=False)
    np.testing.assert_allclose(direct.boxes, dets.boxes, atol=1e-4)


def test_filter_class_and_count():
    img = scene(160, 120)
    info = D.detector_info(FAST)
    raw = D.run_detector(untrained(FAST), img)
    everything = D.filter_detections(raw, info, score_threshold=0.0, iou_threshold=0.5)
    top = everything.labels[0]
    only = D.filter_detections(raw, info, score_threshold=0.0, iou_threshold=0.5, classes=[top])
    assert len(only) > 0 and set(only.labels) == {top}
    assert len(D.filter_detections(raw, info, score_threshold=0.0, max_detections=3)) == 3
    assert len(D.filter_detections(raw, info, score_threshold=1.0)) == 0
    # Stricter NMS never keeps more boxes; re-filtering never re-runs the network (same raw object).
    assert len(D.filter_detections(raw, info, score_threshold=0.0, iou_threshold=0.2)) <= len(everything)
    with pytest.raises(InputError, match="Unknown class"):
        D.filter_detections(raw, info, classes=["unicorn"])
    with pytest.raises(InputError):
        D.filter_detections(raw, info, score_threshold=1.5)
    with pytest.raises(InputError, match="no detector"):
        D.detect(img, "yolo9000")


def test_coco_json_and_drawing():
    img = scene(160, 120)
    dets = D.detect(img, FAST, score_threshold=0.0, pretrained=False, max_detections=5)
    doc = json.loads(D.to_coco_json(dets, image_id=7, file_name="x.png"))
    assert doc["images"][0] == {"id": 7, "file_name": "x.png", "width": 160, "height": 120}
    assert len(doc["annotations"]) == 5
    for ann, box, score in zip(doc["annotations"], dets.boxes, dets.scores, strict=True):
        x, y, w, h = ann["bbox"]
        np.testing.assert_allclose([x, y, x + w, y + h], box, atol=0.02)
        assert ann["score"] == pytest.approx(float(score), abs=1e-4)
    drawn = D.draw_detections(img, dataclasses.replace(dets, pretrained=True))
    assert drawn.shape == img.shape and drawn.dtype == np.uint8
    x0, y0 = int(dets.boxes[0][0]), int(dets.boxes[0][1])
    assert tuple(drawn[min(y0 + 5, 119), min(x0, 159)]) == D.palette_colour(dets.label_ids[0])
    assert np.array_equal(D.draw_detections(img, D.detect(img, FAST, score_threshold=1.0, pretrained=False)), img)


def test_untrained_detections_say_so_in_every_label_and_download():
    img = scene(160, 120)
    dets = D.detect(img, FAST, score_threshold=0.0, pretrained=False, max_detections=4)
    assert not dets.pretrained
    assert all(r["class"].startswith("UNTRAINED ") for r in dets.rows())
    doc = json.loads(D.to_coco_json(dets))
    assert doc["info"]["pretrained"] is False
    assert f"python -m cnn_demo weights fetch {FAST}" in doc["info"]["warning"]
    assert all(a["untrained"] for a in doc["annotations"])
    drawn = D.draw_detections(img, dets)
    assert tuple(drawn[1, 1]) == (200, 0, 0)  # the red band across the top of the saved image
    trained = D.draw_detections(img, dataclasses.replace(dets, pretrained=True))
    assert tuple(trained[1, 1]) != (200, 0, 0) and "untrained" not in D.to_coco_json(
        dataclasses.replace(dets, pretrained=True)
    )
    assert not any(r["class"].startswith("UNTRAINED") for r in dataclasses.replace(dets, pretrained=True).rows())


def test_faster_rcnn_internals():
    img = scene(451, 300)
    det = D.build_detector(FAST, pretrained=False)
    it = D.faster_rcnn_internals(det, img)
    assert it.level_names == ["0", "1", "pool"]
    assert it.anchors_per_location == 15  # 5 sizes × 3 aspect ratios
    for (rows, cols), anchors in zip(it.feature_sizes, it.anchors, strict=True):
        assert anchors.shape == (rows * cols * 15, 4)
    # The anchors of one cell share its centre: (col, row) × the stride, in original pixels.
    a = D.anchors_at(it, 0, 3, 5)
    centres = np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2], 1)
    np.testing.assert_allclose(centres, np.tile([[5 * it.strides[0], 3 * it.strides[0]]], (15, 1)), rtol=1e-3)
    # Proposals are what torchvision's RPN returns, mapped back to the original image.
    from torchvision.models.detection.transform import resize_boxes

    with torch.inference_mode():
        images, _ = det.model.transform([det.info.weights_entry.transforms()(D.as_rgb_image(img))])
        props, _ = det.model.rpn(images, det.model.backbone(images.tensors))
    expected = resize_boxes(props[0], images.image_sizes[0], (300, 451)).numpy()
    np.testing.assert_allclose(it.proposals, expected, atol=1e-3)
    assert np.all(np.diff(it.objectness) <= 1e-6)  # best first
    with pytest.raises(InputError, match="two-stage"):
        D.faster_rcnn_internals(D.build_detector(SSD, pretrained=False), img)


def test_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsMissing, match=r"fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9\.pth") as err:
        D.build_detector(FAST, pretrained=True)
    assert str(tmp_path) in str(err.value)
    assert "`python -m cnn_demo weights fetch fasterrcnn_mobilenet_v3_large_320_fpn`" in str(err.value)
    assert "COCO/VOC" in str(err.value)  # the ImageNet weights installed by set-up do not cover detection
    assert isinstance(err.value, InputError)


def test_weights_file_is_loaded(tmp_path, monkeypatch):
    # A saved copy of the seeded network stands in for the real COCO file: it must load into a fresh model.
    model = models.create(SSD, pretrained=False, seed=7)
    entry = D.detector_info(SSD).weights_entry
    torch.save(model.state_dict(), tmp_path / entry.url.rsplit("/", 1)[-1])
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(tmp_path))
    # Its sha256 does not match the prefix in the published file name, so it is refused as damaged...
    with pytest.raises(WeightsCorrupt, match="damaged"):
        D.build_detector(SSD, pretrained=True)
    # ...and, with the hash check passed, its tensors load into a fresh network.
    monkeypatch.setattr("cnn_demo.weights.lookup.verify", lambda path: True)
    loaded = D.build_detector(SSD, pretrained=True)
    for (k, v), w in zip(model.state_dict().items(), loaded.model.state_dict().values(), strict=True):
        assert torch.equal(v, w.cpu()), k
    assert loaded.label == D.detector_info(SSD).title
    assert "UNTRAINED" in D.build_detector(SSD, pretrained=False).label


@pytest.mark.pretrained
@pytest.mark.skipif(not weights_available(D.detector_info(FAST).weights_entry), reason="COCO weights absent")
def test_pretrained_finds_chelsea_the_cat():
    dets = D.detect(load_sample("chelsea"), FAST, score_threshold=0.5)
    assert "cat" in dets.labels


@pytest.mark.parametrize("name", ["retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn"])
def test_raw_post_processing_of_dense_detectors(name):
    # The ResNet-50 detectors run on a 128 px resize here to stay fast; both sides get the same size.
    img = scene(120, 90, seed=4)
    info = D.detector_info(name)
    # One ResNet-50 build (slow) serves both sides: a copy is relaxed for raw candidates, the original stays bare.
    bare = models.create(name, pretrained=False, min_size=128, max_size=160)
    relaxed = copy.deepcopy(bare)
    for attr, value in D.networks.relaxed_kwargs(info).items():
        setattr(relaxed, attr, value)
    assert D.raw.install(relaxed)
    raw = D.run_detector(D.Detector(info, relaxed, False), img)
    score = threshold_between(raw.scores, 0.9)
    ours = D.filter_detections(raw, info, score_threshold=score, iou_threshold=0.4, max_detections=50)
    bare.score_thresh, bare.nms_thresh, bare.detections_per_img = score, 0.4, 50
    with torch.inference_mode():
        out = bare([info.weights_entry.transforms()(D.as_rgb_image(img))])[0]
    ref = {k: v.numpy() for k, v in out.items()}
    assert len(ours) > 3 and len(ours) == len(ref["boxes"])
    np.testing.assert_allclose(ours.boxes, ref["boxes"], atol=1e-4)
    np.testing.assert_allclose(ours.scores, ref["scores"], atol=1e-6)
    np.testing.assert_array_equal(ours.label_ids, ref["labels"])


def test_mask_rcnn_masks_equal_bare_torchvision():
    """Mask R-CNN: boxes, scores, labels and instance masks equal torchvision's at its own NMS threshold."""
    name = "maskrcnn_resnet50_fpn_v2"
    img = scene(160, 120, seed=5)
    raw = D.run_detector(untrained(name), img)
    score = threshold_between(raw.scores, 0.5)
    ours = D.detect(img, name, score_threshold=score, pretrained=False)
    ref = bare_torchvision(name, img, box_score_thresh=score)
    assert len(ours) > 2 and len(ours) == len(ref["boxes"])
    np.testing.assert_allclose(ours.boxes, ref["boxes"], atol=1e-4)
    np.testing.assert_allclose(ours.scores, ref["scores"], atol=1e-6)
    np.testing.assert_array_equal(ours.label_ids, ref["labels"])
    assert ours.masks is not None and ours.masks.shape == (len(ours), 120, 160)
    # Pixels whose mask probability sits within rounding of 0.5 may fall either way (another machine's kernels).
    prob = ref["masks"][:, 0]
    clear = np.abs(prob - 0.5) > 1e-5
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(ours.masks[clear], prob[clear] > 0.5)
    annotated = D.draw_detections(img, ours)
    assert np.asarray(annotated).shape[:2] == (120, 160)


def test_score_floor_cuts_inside_the_network_pass():
    img = scene(240, 180, seed=11)
    info = D.detector_info(FAST)
    detector = untrained(FAST)
    full = D.run_detector(detector, img)
    floor = threshold_between(full.scores, 0.5)
    cut = D.run_detector(detector, img, score_floor=floor)
    assert cut.score_floor == floor
    assert 0 < len(cut.scores) < len(full.scores)
    assert cut.scores.min() > floor
    # Same final boxes as filtering the uncut candidates, at the floor and above it.
    for threshold in (floor, threshold_between(full.scores, 0.9)):
        a = D.filter_detections(full, info, score_threshold=threshold, iou_threshold=0.5)
        b = D.filter_detections(cut, info, score_threshold=threshold, iou_threshold=0.5)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)  # the box decoding ran on fewer candidates
        np.testing.assert_array_equal(a.label_ids, b.label_ids)
    with pytest.raises(ValueError, match="cut at score"):
        D.filter_detections(cut, info, score_threshold=floor / 2)
    # The floor does not outlive its call: the shared detector still returns every candidate afterwards.
    assert len(D.run_detector(detector, img).scores) == len(full.scores)
