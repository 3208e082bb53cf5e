"""The detectors of the table of models and how one is built: COCO or seeded random weights, raw post-processing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from torch import nn

from cnn_demo.applications.detection import raw as detection_raw
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.models import RANDOM_SEED, ModelView, create, get_info, list_models
from cnn_demo.weights import DetectionDefaults

#: Raw candidates kept per image by the relaxed detectors (see the docstring of :mod:`cnn_demo.applications.detection`).
RAW_CANDIDATES = 1000

#: Mask R-CNN keeps this many candidates (with masks at the image size) in its raw pass.
MASK_RAW_CANDIDATES = 100


@dataclass(frozen=True)
class DetectorInfo(ModelView):
    """A detector of the table of models (:mod:`cnn_demo.weights.catalogue`), as the detection pages use it."""

    @property
    def _defaults(self) -> DetectionDefaults:
        assert self.row.detection is not None  # every detection row has its post-processing defaults
        return self.row.detection

    @property
    def family(self) -> str:
        """``"two-stage"`` or ``"one-stage"``."""
        return self._defaults.family

    @property
    def default_iou(self) -> float:
        """torchvision's NMS IoU threshold for this model."""
        return self._defaults.iou

    @property
    def default_max(self) -> int:
        """torchvision's detections per image."""
        return self._defaults.max_detections

    @property
    def masks(self) -> bool:
        """Whether it predicts an instance mask for every box (Mask R-CNN)."""
        return self._defaults.masks

    @property
    def coco_map(self) -> float | None:
        """torchvision's documented box mAP on COCO val2017 (0..100)."""
        return self.weights_entry.meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")


#: The detectors the pages offer: the table's detection rows, in its order.
DETECTORS: tuple[DetectorInfo, ...] = tuple(DetectorInfo(get_info(n)) for n in list_models(task="detection"))

DEFAULT_DETECTOR = DETECTORS[0].name


def detector_info(name: str) -> DetectorInfo:
    """The catalogue entry called ``name``, or an :class:`InputError` listing the choices."""
    for info in DETECTORS:
        if info.name == name:
            return info
    raise InputError(f"There is no detector called {name!r}. Choose one of: {', '.join(d.name for d in DETECTORS)}.")


def relaxed_kwargs(info: DetectorInfo) -> dict:
    """Constructor arguments that make the model return its raw candidates instead of its final boxes."""
    if info.masks:
        return {"box_score_thresh": 0.0, "box_detections_per_img": MASK_RAW_CANDIDATES}
    if info.name.startswith("fasterrcnn"):
        return {"box_score_thresh": 0.0, "box_nms_thresh": 1.0, "box_detections_per_img": RAW_CANDIDATES}
    return {"score_thresh": 0.0, "nms_thresh": 1.0, "detections_per_img": RAW_CANDIDATES}


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
    model = create(name, pretrained=pretrained, seed=seed, **relaxed_kwargs(info))
    if not info.masks:
        detection_raw.install(model)  # skip the (no-op) NMS at threshold 1.0: same candidates, much faster
    return Detector(info, model.to(get_device()), pretrained)


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
