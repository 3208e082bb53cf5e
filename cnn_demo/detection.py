"""Object detection with torchvision's COCO detectors: run once, filter many times, look inside Faster R-CNN.

The expensive part (the network) and the cheap part (score threshold, non-maximum suppression, class
filter, maximum count) are separate, so a page can cache :func:`run_detector`'s raw candidates and move
its sliders without running the network again:

* :func:`build_detector` builds a detector whose own post-processing keeps (almost) every candidate:
  no score floor, no NMS (:mod:`cnn_demo.detection_raw`), up to :data:`RAW_CANDIDATES` boxes, best first.
* :func:`filter_detections` then applies ``torchvision.ops.batched_nms`` with the model's default (or the
  user's) IoU threshold, the score threshold, the class filter and the maximum count.

Greedy NMS keeps or drops a box only because of higher-scoring boxes, so NMS over the top-K candidates
keeps exactly the boxes that NMS over all candidates keeps among those K; with the same thresholds the
result therefore equals torchvision's own post-processing (tested). Mask R-CNN is the exception: pasting
a mask for every candidate would need gigabytes, so its raw pass keeps the model's own NMS (IoU 0.5) and
its top 100 boxes with their masks; its NMS slider can only tighten that.

Preprocessing and class names come from each model's torchvision weights entry. Pretrained files are
looked up offline (:mod:`cnn_demo.tv_weights`); ``pretrained=False`` gives the same architecture with
random weights drawn from a fixed seed, which proves the pipeline but detects nothing meaningful.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn
from torchvision.models import get_model, get_model_weights
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import batched_nms
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from cnn_demo import detection_raw
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.tv_weights import load_pretrained

#: Raw candidates kept per image by the relaxed detectors (see the module docstring).
RAW_CANDIDATES = 1000
#: Mask R-CNN keeps this many candidates (with masks at the image size) in its raw pass.
MASK_RAW_CANDIDATES = 100
#: Seed of the random weights used when ``pretrained=False``.
RANDOM_SEED = 0


@dataclass(frozen=True)
class DetectorInfo:
    """A detector of the catalogue: its torchvision builder name and how it post-processes."""

    name: str
    title: str
    family: str  # "two-stage" or "one-stage"
    default_iou: float  # torchvision's NMS IoU threshold for this model
    default_max: int  # torchvision's detections per image
    note: str
    masks: bool = False

    @property
    def weights_entry(self):
        """The torchvision weights entry: preprocessing, class names, reference accuracy, file name."""
        return get_model_weights(self.name).DEFAULT

    @property
    def categories(self) -> list[str]:
        """Class names indexed by label (COCO category ids; ``__background__`` and ``N/A`` fill the gaps)."""
        return list(self.weights_entry.meta["categories"])

    @property
    def coco_map(self) -> float | None:
        """torchvision's documented box mAP on COCO val2017 (0..100)."""
        return self.weights_entry.meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")


DETECTORS: tuple[DetectorInfo, ...] = (
    DetectorInfo(
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "Faster R-CNN, MobileNetV3-Large 320 FPN (fast)",
        "two-stage",
        0.5,
        100,
        "Works on images resized to 320 px: fast on a CPU, misses small objects.",
    ),
    DetectorInfo(
        "fasterrcnn_mobilenet_v3_large_fpn",
        "Faster R-CNN, MobileNetV3-Large FPN",
        "two-stage",
        0.5,
        100,
        "The same network on 800 px images: slower, finds smaller objects.",
    ),
    DetectorInfo(
        "fasterrcnn_resnet50_fpn_v2",
        "Faster R-CNN, ResNet-50 FPN v2",
        "two-stage",
        0.5,
        100,
        "A large backbone: accurate and slow on a CPU.",
    ),
    DetectorInfo(
        "retinanet_resnet50_fpn_v2",
        "RetinaNet, ResNet-50 FPN v2",
        "one-stage",
        0.5,
        300,
        "One stage with anchors and the focal loss.",
    ),
    DetectorInfo(
        "ssdlite320_mobilenet_v3_large",
        "SSDlite 320, MobileNetV3-Large",
        "one-stage",
        0.55,
        300,
        "A one-stage detector for phones: very fast, less accurate.",
    ),
    DetectorInfo(
        "fcos_resnet50_fpn",
        "FCOS, ResNet-50 FPN",
        "one-stage",
        0.6,
        100,
        "One stage without anchors: every feature-map cell predicts its distances to a box's sides.",
    ),
    DetectorInfo(
        "maskrcnn_resnet50_fpn_v2",
        "Mask R-CNN, ResNet-50 FPN v2 (instance masks)",
        "two-stage",
        0.5,
        100,
        "Faster R-CNN plus a mask head: a pixel mask for every object.",
        masks=True,
    ),
)

DEFAULT_DETECTOR = DETECTORS[0].name


def detector_info(name: str) -> DetectorInfo:
    """The catalogue entry called ``name``, or an :class:`InputError` listing the choices."""
    for info in DETECTORS:
        if info.name == name:
            return info
    raise InputError(f"There is no detector called {name!r}. Choose one of: {', '.join(d.name for d in DETECTORS)}.")


def _relaxed_kwargs(info: DetectorInfo) -> dict:
    """Constructor arguments that make the model return its raw candidates instead of its final boxes."""
    if info.masks:
        return {"box_score_thresh": 0.0, "box_detections_per_img": MASK_RAW_CANDIDATES}
    if info.name.startswith("fasterrcnn"):
        return {"box_score_thresh": 0.0, "box_nms_thresh": 1.0, "box_detections_per_img": RAW_CANDIDATES}
    return {"score_thresh": 0.0, "nms_thresh": 1.0, "detections_per_img": RAW_CANDIDATES}


def build_torchvision_detector(name: str, *, pretrained: bool, seed: int = RANDOM_SEED, **kwargs) -> nn.Module:
    """The bare torchvision detector ``name`` in eval mode (``kwargs`` go to its constructor).

    ``pretrained=False``: random weights drawn from ``seed`` (and no backbone weights), the same for every call.
    ``pretrained=True``: the COCO weight file, or :class:`~cnn_demo.tv_weights.WeightsMissing`.
    """
    info = detector_info(name)
    entry = info.weights_entry
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_model(name, weights=None, weights_backbone=None, num_classes=len(info.categories), **kwargs)
        if not pretrained:
            calibrate_batchnorm(model.backbone, seed)
    if pretrained:
        load_pretrained(model, entry)
    return model.eval()


@torch.no_grad()
def calibrate_batchnorm(module: nn.Module, seed: int = RANDOM_SEED, size: int = 320) -> None:
    """Set every BatchNorm's running statistics from one seeded random batch.

    A freshly initialised deep network in eval mode (running mean 0, variance 1) shrinks its activations
    layer after layer to ~1e-8, so every box gets the same score. Measuring the statistics once, as
    training would, keeps random features alive; the result is deterministic for a given seed.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [(m, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batch
    gen = torch.Generator().manual_seed(seed)
    batch = torch.randn(2, 3, size, size, generator=gen)
    was_training = module.training
    module.train()
    module(batch)
    module.train(was_training)
    for m, momentum in saved:
        m.momentum = momentum


@dataclass(frozen=True)
class Detector:
    """A detector ready for :func:`run_detector`: the relaxed network and what it was built from."""

    info: DetectorInfo
    model: nn.Module
    pretrained: bool

    @property
    def label(self) -> str:
        """How pages name it, saying plainly when the weights are random."""
        return self.info.title + ("" if self.pretrained else " — UNTRAINED (random weights)")


def build_detector(name: str = DEFAULT_DETECTOR, *, pretrained: bool = True, seed: int = RANDOM_SEED) -> Detector:
    """A :class:`Detector` whose network returns raw candidates (see the module docstring), on the app's device."""
    info = detector_info(name)
    model = build_torchvision_detector(name, pretrained=pretrained, seed=seed, **_relaxed_kwargs(info))
    if not info.masks:
        detection_raw.install(model)  # skip the (no-op) NMS at threshold 1.0: same candidates, much faster
    return Detector(info, model.to(get_device()), pretrained)


@functools.lru_cache(maxsize=2)
def _cached_detector(name: str, pretrained: bool) -> Detector:
    return build_detector(name, pretrained=pretrained)


def as_rgb_image(image: Image.Image | np.ndarray) -> Image.Image:
    """An RGB PIL image from a PIL image (EXIF orientation applied) or an H×W(×3) uint8-range array."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
            raise InputError(f"Expected an H×W or H×W×3 image array, got shape {arr.shape}.")
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    if not isinstance(image, Image.Image):
        raise InputError("Expected an image (a PIL image or a NumPy array).")
    image = ImageOps.exif_transpose(image) or image
    return image if image.mode == "RGB" else image.convert("RGB")


@dataclass(frozen=True)
class RawDetections:
    """A detector's raw candidates on one image (original-image pixels), best score first."""

    boxes: np.ndarray  # (N, 4) float32, xyxy
    scores: np.ndarray  # (N,) float32
    labels: np.ndarray  # (N,) int64, COCO category ids
    image_size: tuple[int, int]  # (width, height)
    seconds: float
    masks: np.ndarray | None = None  # (N, H, W) bool for Mask R-CNN
    score_floor: float = 0.0  # candidates scoring at or below this may have been dropped in the network's pass


@dataclass(frozen=True)
class Detections:
    """Final detections: boxes (xyxy, original-image pixels), scores, class names, optional instance masks."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]
    label_ids: np.ndarray
    image_size: tuple[int, int]
    seconds: float = 0.0
    masks: np.ndarray | None = None
    model: str = ""
    pretrained: bool = True
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    def rows(self) -> list[dict]:
        """One dict per detection for a table: class, score, box corners, width and height (an untrained network's
        classes are marked UNTRAINED)."""
        out = []
        tag = "" if self.pretrained else "UNTRAINED "
        for name, score, (x0, y0, x1, y1) in zip(self.labels, self.scores, self.boxes, strict=True):
            out.append(
                {
                    "class": tag + name,
                    "score": round(float(score), 3),
                    "x0": round(float(x0), 1),
                    "y0": round(float(y0), 1),
                    "x1": round(float(x1), 1),
                    "y1": round(float(y1), 1),
                    "width": round(float(x1 - x0), 1),
                    "height": round(float(y1 - y0), 1),
                }
            )
        return out


@torch.inference_mode()
def run_detector(detector: Detector, image: Image.Image | np.ndarray, *, score_floor: float = 0.0) -> RawDetections:
    """Run the network once on ``image`` with the weights entry's preprocessing; return its raw candidates.

    ``score_floor`` drops candidates scoring at or below it inside the network's pass (cheaper when the
    caller's score threshold is known); the result can then only be filtered with thresholds at or above it.
    """
    img = as_rgb_image(image)
    tensor = detector.info.weights_entry.transforms()(img).to(get_device())
    start = time.perf_counter()
    with detection_raw.score_floor(score_floor):
        out = detector.model([tensor])[0]
    seconds = time.perf_counter() - start
    masks = None
    if "masks" in out:
        masks = (out["masks"][:, 0] > 0.5).cpu().numpy()
    return RawDetections(
        boxes=out["boxes"].cpu().numpy().astype(np.float32),
        scores=out["scores"].cpu().numpy().astype(np.float32),
        labels=out["labels"].cpu().numpy().astype(np.int64),
        image_size=img.size,
        seconds=seconds,
        masks=masks,
        score_floor=float(score_floor),
    )


def _class_ids(categories: list[str], classes) -> set[int] | None:
    if classes is None:
        return None
    wanted = {classes} if isinstance(classes, str) else set(classes)
    ids = {i for i, c in enumerate(categories) if c in wanted}
    unknown = wanted - set(categories)
    if unknown:
        raise InputError(f"Unknown class name(s): {', '.join(sorted(map(str, unknown)))}. Use COCO class names.")
    return ids


def filter_detections(
    raw: RawDetections,
    info: DetectorInfo,
    *,
    score_threshold: float = 0.5,
    iou_threshold: float | None = None,
    classes=None,
    max_detections: int | None = None,
    pretrained: bool = True,
) -> Detections:
    """NMS (``torchvision.ops.batched_nms``, per class), then score threshold, class filter and maximum count."""
    if not 0.0 <= score_threshold <= 1.0:
        raise InputError("The score threshold must be between 0 and 1.")
    if score_threshold < raw.score_floor:
        raise ValueError(f"These candidates were cut at score {raw.score_floor}; run the detector with a lower floor.")
    iou = info.default_iou if iou_threshold is None else float(iou_threshold)
    if not 0.0 <= iou <= 1.0:
        raise InputError("The NMS IoU threshold must be between 0 and 1.")
    limit = info.default_max if max_detections is None else int(max_detections)
    if limit < 0:
        raise InputError("The maximum number of detections cannot be negative.")
    categories = info.categories
    boxes = torch.from_numpy(raw.boxes)
    scores = torch.from_numpy(raw.scores)
    labels = torch.from_numpy(raw.labels)
    keep = batched_nms(boxes, scores, labels, iou)[:limit]
    keep = keep[scores[keep] > score_threshold]
    wanted = _class_ids(categories, classes)
    if wanted is not None:
        keep = keep[torch.tensor([int(labels[i]) in wanted for i in keep], dtype=torch.bool)]
    idx = keep.numpy()
    ids = raw.labels[idx]
    return Detections(
        boxes=raw.boxes[idx],
        scores=raw.scores[idx],
        labels=[categories[i] for i in ids],
        label_ids=ids,
        image_size=raw.image_size,
        seconds=raw.seconds,
        masks=None if raw.masks is None else raw.masks[idx],
        model=info.name,
        pretrained=pretrained,
    )


def detect(
    image: Image.Image | np.ndarray,
    model: str = DEFAULT_DETECTOR,
    score_threshold: float = 0.5,
    iou_threshold: float | None = None,
    classes=None,
    pretrained: bool = True,
    *,
    max_detections: int | None = None,
) -> Detections:
    """Detect objects in ``image`` with torchvision detector ``model``.

    Boxes are xyxy in pixels of the original image; ``labels`` are COCO class names; ``masks`` exist for
    Mask R-CNN. ``iou_threshold=None`` uses the model's own NMS threshold; ``classes`` keeps only those
    class names. ``pretrained=False`` uses seeded random weights (an untrained network). With the same
    weights and thresholds this equals running the torchvision model with ``weights.transforms()``.
    """
    detector = _cached_detector(detector_info(model).name, bool(pretrained))
    if not 0.0 <= score_threshold <= 1.0:
        raise InputError("The score threshold must be between 0 and 1.")
    raw = run_detector(detector, image, score_floor=score_threshold)
    return filter_detections(
        raw,
        detector.info,
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        classes=classes,
        max_detections=max_detections,
        pretrained=detector.pretrained,
    )


# ---------------------------------------------------------------------------------------------- outputs


def palette_colour(i: int) -> tuple[int, int, int]:
    """A distinct colour for class id ``i`` (stable across images)."""
    colours = [
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (250, 190, 212),
        (0, 128, 128),
        (220, 190, 255),
        (170, 110, 40),
        (255, 250, 200),
        (128, 0, 0),
        (170, 255, 195),
        (128, 128, 0),
        (255, 215, 180),
        (0, 0, 128),
        (128, 128, 128),
    ]
    return colours[int(i) % len(colours)]


def draw_detections(image: Image.Image | np.ndarray, dets: Detections, *, mask_alpha: float = 0.45) -> np.ndarray:
    """The image with each detection's box, class and score drawn on it (and its mask, for Mask R-CNN)."""
    img = as_rgb_image(image)
    tensor = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
    if len(dets) == 0:
        return np.asarray(img).copy()
    colours = [palette_colour(i) for i in dets.label_ids]
    if dets.masks is not None and len(dets.masks):
        tensor = draw_segmentation_masks(tensor, torch.from_numpy(dets.masks), alpha=mask_alpha, colors=colours)
    width = max(2, round(max(img.size) / 250))
    tag = "" if dets.pretrained else "UNTRAINED "
    captions = [f"{tag}{name} {score:.2f}" for name, score in zip(dets.labels, dets.scores, strict=True)]
    tensor = draw_bounding_boxes(tensor, torch.from_numpy(dets.boxes), labels=captions, colors=colours, width=width)
    out = tensor.permute(1, 2, 0).numpy()
    return out if dets.pretrained else untrained_banner(out)


UNTRAINED_TEXT = "UNTRAINED NETWORK (random weights): these boxes mean nothing"


def untrained_banner(image: np.ndarray, text: str = UNTRAINED_TEXT) -> np.ndarray:
    """``image`` with a red band across its top saying the network is untrained, so a saved copy says it too."""
    from PIL import ImageDraw

    img = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(img)
    height = max(14, img.height // 18)
    draw.rectangle((0, 0, img.width, height), fill=(200, 0, 0))
    draw.text((4, max(1, (height - 11) // 2)), text, fill=(255, 255, 255))
    return np.asarray(img)


def to_coco_json(dets: Detections, image_id: int = 1, file_name: str = "image.png") -> str:
    """Detections in COCO results style (bbox = [x, y, width, height]) plus the image and the categories used."""
    results = [
        {
            "image_id": image_id,
            "category_id": int(cid),
            "category_name": name,
            "bbox": [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)],
            "score": round(float(score), 4),
        }
        for cid, name, score, (x0, y0, x1, y1) in zip(dets.label_ids, dets.labels, dets.scores, dets.boxes, strict=True)
    ]
    info: dict = {"model": dets.model, "pretrained": dets.pretrained}
    if not dets.pretrained:
        from cnn_demo.weights import fetch_command

        info["warning"] = (
            f"{UNTRAINED_TEXT}. The COCO weights were not on the server; get them with "
            f"`{fetch_command(dets.model)}` on a machine that is online."
        )
        for r in results:
            r["untrained"] = True
    doc = {
        "info": info,
        "images": [{"id": image_id, "file_name": file_name, "width": dets.image_size[0], "height": dets.image_size[1]}],
        "categories": [
            {"id": int(c), "name": n} for c, n in sorted(set(zip(dets.label_ids.tolist(), dets.labels, strict=True)))
        ],
        "annotations": results,
    }
    return json.dumps(doc, indent=1)


# ---------------------------------------------------------------------------------------------- inside Faster R-CNN


@dataclass(frozen=True)
class RCNNInternals:
    """What a Faster R-CNN computes on one image, in original-image pixels."""

    level_names: list[str]
    feature_sizes: list[tuple[int, int]]  # (rows, cols) per FPN level
    strides: list[float]  # original-image pixels per feature-map cell, per level
    anchors_per_location: int
    anchors: list[np.ndarray]  # per level: (rows*cols*A, 4)
    proposals: np.ndarray  # (P, 4), best objectness first
    objectness: np.ndarray  # (P,) probabilities
    resized_size: tuple[int, int]  # (width, height) the network actually saw


@torch.inference_mode()
def faster_rcnn_internals(detector: Detector, image: Image.Image | np.ndarray) -> RCNNInternals:
    """Anchors at every FPN level and the RPN's proposals (after its own NMS) for a Faster/Mask R-CNN."""
    if detector.info.family != "two-stage":
        raise InputError("Region proposals exist only in the two-stage detectors (Faster R-CNN, Mask R-CNN).")
    img = as_rgb_image(image)
    model = detector.model
    tensor = detector.info.weights_entry.transforms()(img).to(get_device())
    images, _ = model.transform([tensor])
    features = model.backbone(images.tensors)
    names = list(features.keys())
    feats = list(features.values())
    rpn = model.rpn
    objectness, deltas = rpn.head(feats)
    anchors = rpn.anchor_generator(images, feats)
    per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
    objectness_flat, deltas_flat = concat_box_prediction_layers(objectness, deltas)
    proposals = rpn.box_coder.decode(deltas_flat, anchors).view(1, -1, 4)
    boxes, scores = rpn.filter_proposals(proposals, objectness_flat, images.image_sizes, per_level)
    resized = images.image_sizes[0]  # (h, w)
    original = (img.height, img.width)
    props = resize_boxes(boxes[0], resized, original).cpu().numpy()
    anchors_orig = resize_boxes(anchors[0], resized, original).cpu().numpy()
    split = np.cumsum(per_level)[:-1]
    sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]
    strides = [img.width / resized[1] * images.tensors.shape[-1] / s[1] for s in sizes]
    return RCNNInternals(
        level_names=names,
        feature_sizes=sizes,
        strides=strides,
        anchors_per_location=int(objectness[0].shape[1]),
        anchors=list(np.split(anchors_orig, split)),
        proposals=props,
        objectness=scores[0].cpu().numpy(),
        resized_size=(int(resized[1]), int(resized[0])),
    )


def anchors_at(internals: RCNNInternals, level: int, row: int, col: int) -> np.ndarray:
    """The anchors (original pixels) centred on feature-map cell (row, col) of FPN level ``level``."""
    rows, cols = internals.feature_sizes[level]
    row = int(np.clip(row, 0, rows - 1))
    col = int(np.clip(col, 0, cols - 1))
    a = internals.anchors_per_location
    start = (row * cols + col) * a
    return internals.anchors[level][start : start + a]
