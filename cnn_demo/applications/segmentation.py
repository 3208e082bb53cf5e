"""Image segmentation: supervised (torchvision's semantic segmentation networks) and unsupervised (k-means, SLIC).

Supervised: DeepLabV3 (MobileNetV3-Large, ResNet-50), LR-ASPP and FCN trained on COCO images with the 20
PASCAL VOC classes plus background. Preprocessing and class names come from the weights entry; the
network's class scores are resized (bilinear) to the original image and the best class is taken per pixel.

Unsupervised: :func:`kmeans_segment` clusters pixels by colour (optionally also by position);
:func:`slic_segment` groups them into compact superpixels (scikit-image's SLIC). Neither needs weights.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnn_demo.applications.detection import as_rgb_image
from cnn_demo.data.figures import VOC_COLOURS, colourise
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.models import RANDOM_SEED, ModelView, create, get_info, list_models, weightless


class SegmenterInfo(ModelView):
    """A semantic segmentation network of the table of models (:mod:`cnn_demo.weights.catalogue`)."""


#: The segmentation networks the pages offer: the table's segmentation rows, in its order.
SEGMENTERS: tuple[SegmenterInfo, ...] = tuple(SegmenterInfo(get_info(n)) for n in list_models(task="segmentation"))
DEFAULT_SEGMENTER = SEGMENTERS[0].name


def segmenter_info(name: str) -> SegmenterInfo:
    """The catalogue entry called ``name``, or an :class:`InputError` listing the choices."""
    for info in SEGMENTERS:
        if info.name == name:
            return info
    raise InputError(
        f"There is no segmentation model {name!r}. Choose one of: {', '.join(s.name for s in SEGMENTERS)}."
    )


@dataclass(frozen=True)
class Segmenter:
    """A network ready for :func:`run_segmenter`."""

    info: SegmenterInfo
    model: nn.Module
    pretrained: bool

    @property
    def label(self) -> str:
        """How pages name it, saying plainly when the weights are random."""
        return self.info.title + ("" if self.pretrained else " — UNTRAINED (random weights)")


def build_segmenter(name: str = DEFAULT_SEGMENTER, *, pretrained: bool = True, seed: int = RANDOM_SEED) -> Segmenter:
    """A :class:`Segmenter` on the app's device: the table's network (:func:`cnn_demo.models.create`) in eval mode,
    without its training-only auxiliary head; ``pretrained=False``: seeded random weights (BatchNorm statistics
    measured on a seeded random batch)."""
    info = segmenter_info(name)
    model = create(info.name, pretrained=pretrained, seed=seed)
    return Segmenter(info, model.to(get_device()), pretrained)


@dataclass(frozen=True)
class Segmentation:
    """A label map at the original image size, the class names its values index, and the inference time."""

    labels: np.ndarray  # (H, W) uint8
    class_names: list[str]
    seconds: float = 0.0
    model: str = ""
    pretrained: bool = True


#: Longest side the network may be fed after its own resize (the short side goes to ~520 px).
MAX_NETWORK_SIDE = 4096


def _check_network_input_size(img: Image.Image, preprocess: object) -> None:
    """Refuse strips whose short side, resized as the weights prescribe, would make a gigantic network input."""
    resize = getattr(preprocess, "resize_size", None)
    if not resize:
        return
    short, long = min(img.size), max(img.size)
    resized_long = round(long * resize[0] / short)
    if resized_long > MAX_NETWORK_SIDE:
        raise InputError(
            f"This image is {img.width}×{img.height} pixels: the network first resizes its short side to "
            f"{resize[0]} pixels, which would make it {resized_long:,} pixels long. Please crop it to a less "
            "elongated picture (at most about 1:8)."
        )


@torch.inference_mode()
def run_segmenter(segmenter: Segmenter, image: Image.Image | np.ndarray) -> Segmentation:
    """Segment ``image``: weights-entry preprocessing, network, bilinear resize of the scores, per-pixel argmax."""
    img = as_rgb_image(image)
    preprocess = segmenter.info.weights_entry.transforms()
    _check_network_input_size(img, preprocess)
    batch = preprocess(img).unsqueeze(0).to(get_device())
    start = time.perf_counter()
    logits = segmenter.model(batch)["out"]
    logits = F.interpolate(logits, size=(img.height, img.width), mode="bilinear", align_corners=False)
    labels = logits.argmax(1)[0].to(torch.uint8).cpu().numpy()
    return Segmentation(
        labels, segmenter.info.categories, time.perf_counter() - start, segmenter.info.name, segmenter.pretrained
    )


def segment(
    image: Image.Image | np.ndarray, model: str | Segmenter = DEFAULT_SEGMENTER, *, pretrained: bool = True
) -> Segmentation:
    """Semantic segmentation of ``image`` with torchvision network ``model`` (a name, or a :class:`Segmenter` built
    once for many images: a name builds the network on every call): label map at the original size.

    Equals running the torchvision model on ``weights.transforms()(image)``, resizing its ``out`` scores to the
    image size (bilinear) and taking the argmax. ``pretrained=False`` uses seeded random weights (ignored for a
    :class:`Segmenter`).
    """
    segmenter = model if isinstance(model, Segmenter) else build_segmenter(model, pretrained=bool(pretrained))
    return run_segmenter(segmenter, image)


def architecture(name: str, size: int = 520) -> list[dict]:
    """The network's stages for a ``size``×``size`` input, computed on PyTorch's "meta" device (shapes only: no
    weights needed, no arithmetic): ``{"stage", "shape" (C, H, W), "stride", "parameters", "what"}`` rows."""
    model: Any = weightless(segmenter_info(name).row).eval()  # a torchvision segmentation model
    with torch.device("meta"):
        feats = model.backbone(torch.empty(1, 3, size, size))
        out = model.classifier(feats) if name.startswith("lraspp") else model.classifier(feats["out"])

    def count(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    def row(stage: str, shape, parameters: int | None, what: str) -> dict:
        return {
            "stage": stage,
            "shape": tuple(int(v) for v in shape),
            "stride": round(size / int(shape[-1])),
            "parameters": parameters,
            "what": what,
        }

    rows = [row("input", (3, size, size), None, "the photo, resized so its short side is 520 pixels")]
    for i, (key, t) in enumerate(feats.items()):
        what = {"low": "fine feature map (edges, where)", "high": "coarse feature map (what)"}.get(key, "feature map")
        rows.append(row(f"backbone: {key}", t.shape[1:], count(model.backbone) if i == 0 else None, what))
    head = type(model.classifier).__name__
    rows.append(row(f"head ({head})", out.shape[1:], count(model.classifier), "a score per class at every position"))
    rows.append(row("output", (out.shape[1], size, size), 0, "scores resized to the photo; the best class per pixel"))
    return rows


# ---------------------------------------------------------------------------------------------- outputs


def overlay(
    image: Image.Image | np.ndarray,
    labels: np.ndarray,
    opacity: float = 0.5,
    *,
    skip_zero: bool = True,
    colours: np.ndarray = VOC_COLOURS,
):
    """The image with the coloured label map blended on top (``opacity`` 0..1); label 0 stays clear by default."""
    if not 0.0 <= opacity <= 1.0:
        raise InputError("The opacity must be between 0 and 1.")
    base = np.asarray(as_rgb_image(image), dtype=np.float32)
    if base.shape[:2] != labels.shape:
        raise InputError(
            f"The mask is {labels.shape[1]}×{labels.shape[0]} but the image is {base.shape[1]}×{base.shape[0]}."
        )
    colour = colourise(labels, colours).astype(np.float32)
    alpha = np.full(labels.shape, opacity, dtype=np.float32)
    if skip_zero:
        alpha[labels == 0] = 0.0
    out = base * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def class_shares(labels: np.ndarray, class_names: list[str]) -> list[dict]:
    """The share of pixels of each class present, largest first: ``{"class", "label", "pixels", "share"}``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64).ravel(), minlength=len(class_names))
    total = counts.sum()
    rows = [
        {
            "class": class_names[i] if i < len(class_names) else str(i),
            "label": i,
            "pixels": int(c),
            "share": float(c / total),
        }
        for i, c in enumerate(counts)
        if c
    ]
    return sorted(rows, key=lambda r: -r["pixels"])


def mask_png(labels: np.ndarray, note: str = "", colours: np.ndarray = VOC_COLOURS) -> bytes:
    """A label map as a palette PNG (pixel value = class index, shown in the VOC colours), the VOC mask format.

    ``note`` goes into the PNG's text metadata (``Comment``), e.g. that the network was untrained."""
    arr = np.asarray(labels)
    if arr.min() < 0 or arr.max() > 255:
        raise InputError("A PNG mask can hold class indices 0 to 255 only.")
    img = Image.fromarray(arr.astype(np.uint8), mode="P")
    img.putpalette(np.asarray(colours, dtype=np.uint8).ravel().tolist())
    buf = io.BytesIO()
    info = None
    if note:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", note)
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- unsupervised


def _features(arr: np.ndarray, spatial_weight: float) -> np.ndarray:
    h, w = arr.shape[:2]
    colour = arr.reshape(h * w, -1).astype(np.float64) / 255.0
    if spatial_weight <= 0:
        return colour
    ys, xs = np.mgrid[0:h, 0:w]
    scale = spatial_weight / max(h, w)
    pos = np.stack([ys.ravel() * scale, xs.ravel() * scale], axis=1)
    return np.hstack([colour, pos])


def kmeans_segment(
    image: Image.Image | np.ndarray, k: int, spatial_weight: float = 0.0, seed: int = 0, *, max_fit_pixels: int = 40_000
) -> np.ndarray:
    """Cluster the pixels of ``image`` into ``k`` groups by colour (k-means); returns an H×W label map.

    ``spatial_weight`` > 0 adds each pixel's position (scaled so the longer side spans ``spatial_weight``,
    colours span 0..1) so clusters also become compact regions. Labels are ordered by the brightness of
    their mean colour (0 = darkest). At most ``max_fit_pixels`` random pixels fit the centres (SciPy's
    ``kmeans2``, k-means++ seeding, 50 rounds of Lloyd's algorithm); every pixel is then assigned to its nearest
    centre. Deterministic for a given ``seed``.
    """
    from scipy.cluster.vq import kmeans2, vq

    if not isinstance(k, (int, np.integer)) or not 1 <= k <= 32:
        raise InputError("k (the number of clusters) must be a whole number from 1 to 32.")
    if spatial_weight < 0:
        raise InputError("The weight on pixel position cannot be negative.")
    arr = np.asarray(as_rgb_image(image))
    h, w = arr.shape[:2]
    x = _features(arr, float(spatial_weight))
    rng = np.random.default_rng(seed)
    fit = x if len(x) <= max_fit_pixels else x[rng.choice(len(x), max_fit_pixels, replace=False)]
    k = min(int(k), len(np.unique(fit, axis=0)))
    with warnings.catch_warnings():  # a cluster left empty keeps its centre: no need to tell the student
        warnings.simplefilter("ignore")
        centres, _ = kmeans2(fit, k, iter=50, minit="++", seed=rng)
    labels, _ = vq(x, centres, check_finite=False)
    brightness = centres[:, :3] @ np.array([0.299, 0.587, 0.114])
    order = np.argsort(brightness, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[labels].reshape(h, w).astype(np.uint8 if k <= 256 else np.int32)


def slic_segment(image: Image.Image | np.ndarray, n_segments: int, compactness: float = 10.0) -> np.ndarray:
    """SLIC superpixels (scikit-image): about ``n_segments`` compact regions of similar colour; labels from 0."""
    from skimage.segmentation import slic

    if not 1 <= int(n_segments) <= 5000:
        raise InputError("The number of superpixels must be between 1 and 5000.")
    arr = np.asarray(as_rgb_image(image))
    return slic(arr, n_segments=int(n_segments), compactness=float(compactness), start_label=0).astype(np.int32)


def mean_colour_image(image: Image.Image | np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each region painted in its mean colour: what a segmentation 'sees'."""
    arr = np.asarray(as_rgb_image(image), dtype=np.float64)
    flat = labels.ravel().astype(np.int64)
    counts = np.bincount(flat)
    out = np.zeros((counts.size, 3))
    for ch in range(3):
        out[:, ch] = np.bincount(flat, weights=arr[..., ch].ravel(), minlength=counts.size)
    means = out / np.maximum(counts, 1)[:, None]
    return np.clip(np.rint(means[flat].reshape(arr.shape)), 0, 255).astype(np.uint8)


def boundaries(image: Image.Image | np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The image with region boundaries drawn in yellow."""
    from skimage.segmentation import find_boundaries

    arr = np.asarray(as_rgb_image(image)).copy()
    arr[find_boundaries(labels, mode="thick")] = (255, 220, 0)
    return arr
