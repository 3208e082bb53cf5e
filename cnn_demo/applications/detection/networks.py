"""The detector catalogue and how a network is built: COCO weights or seeded random ones, raw post-processing."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn
from torchvision.models import get_model

from cnn_demo.applications.detection import raw as detection_raw
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.weights import load_pretrained, torchvision_entry

#: Raw candidates kept per image by the relaxed detectors (see the docstring of :mod:`cnn_demo.applications.detection`).
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
        return torchvision_entry(self.name)

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
    ``pretrained=True``: the COCO weight file, or :class:`~cnn_demo.weights.WeightsMissing`.
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
    """A :class:`Detector` whose network returns raw candidates (:mod:`cnn_demo.applications.detection`), on the app's
    device."""
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
