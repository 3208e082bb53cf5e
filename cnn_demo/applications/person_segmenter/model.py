"""The network: torchvision's LR-ASPP head on frozen EfficientNet-Lite0 features; its settings, saving and loading.

The backbone is the ImageNet EfficientNet-Lite0 that set-up installs, frozen: it only supplies two feature maps, a
fine one (stride 8, 40 channels: where the edges are) and a coarse one (stride 32, 320 channels: what is there).
The head (:class:`torchvision.models.segmentation.lraspp.LRASPPHead`, the "Lite R-ASPP" of MobileNetV3) gates the
coarse map by its global average (squeeze-and-excitation), classifies both maps with 1×1 convolutions and adds them
up at stride 8; the scores are resized (bilinear) to the image. Only the head learns: 82,516 parameters.

A trained segmenter is a folder: ``head.safetensors`` (the head's weights) and ``segmenter.json`` (settings, class
names, what training measured). The backbone is not saved: every install has it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.models.data import DataConfig

BACKBONE = "tf_efficientnet_lite0"
HEAD_FILE = "head.safetensors"
INFO_FILE = "segmenter.json"
FORMAT = "cnn-demo person segmenter 1"


def _palette() -> np.ndarray:
    colours = np.zeros((256, 3), np.uint8)
    colours[1] = (255, 40, 120)  # the class learnt: a pink no photo is full of
    colours[255] = (200, 200, 200)  # ignored pixels of a true mask
    colours.flags.writeable = False
    return colours


#: The colours of the segmenter's masks (0 background black, 1 the learnt class, 255 ignore grey).
PALETTE: np.ndarray = _palette()


@dataclass(frozen=True)
class SegmenterConfig:
    """How the segmenter is built and trained. The defaults are the page's, the command line's and the bench's."""

    backbone: str = BACKBONE
    #: Images are resized to image_size × image_size (no crop: every pixel needs a label).
    image_size: int = 384
    #: Backbone blocks whose outputs feed the head: stride 8 (fine) and stride 32 (coarse).
    low_block: int = 2
    high_block: int = 6
    inter_channels: int = 128
    #: The loss compares scores and masks on a grid this many times coarser than the input (2: 192×192, 4 times
    #: fewer pixels than 384×384 for the same IoU).
    loss_stride: int = 2
    epochs: int = 20
    #: At most this many photos per step, and at most a quarter of the training photos (so ≥ 4 steps per epoch).
    batch_size: int = 16
    lr: float = 0.01
    weight_decay: float = 1e-4
    #: Also learn from the mirrored photos (their features are cached too: twice the time for no better IoU on the
    #: people sample, see docs/APPLICATIONS.md).
    flip: bool = False
    #: Share of the photos held out to measure IoU (never trained on).
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backbone != BACKBONE:
            raise InputError(f"The person segmenter is built on {BACKBONE} only.")
        checks = [
            (64 <= self.image_size <= 640 and self.image_size % 32 == 0, "an image size of 64–640, a multiple of 32"),
            (0 <= self.low_block < self.high_block <= 6, "backbone blocks 0 ≤ low < high ≤ 6"),
            (8 <= self.inter_channels <= 512, "8–512 channels inside the head"),
            (self.loss_stride in (1, 2, 4, 8), "a loss stride of 1, 2, 4 or 8"),
            (1 <= self.epochs <= 200, "1–200 epochs"),
            (1 <= self.batch_size <= 256, "a batch of 1–256"),
            (0 < self.lr <= 1 and 0 <= self.weight_decay <= 1, "a learning rate in (0, 1] and weight decay in [0, 1]"),
            (0 < self.val_fraction < 1, "a validation share between 0 and 1"),
        ]
        for ok, what in checks:
            if not ok:
                raise InputError(f"The person segmenter needs {what}.")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SegmenterConfig:
        """Settings from :meth:`to_dict` (unknown names are refused, missing ones keep the defaults)."""
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InputError(f"Unknown segmenter settings: {', '.join(unknown)}.")
        defaults = cls()
        typed = {k: type(getattr(defaults, k))(v) for k, v in values.items()}
        return cls(**typed)

    def feature_dict(self) -> dict[str, Any]:
        """The settings the cached features depend on (the head's settings do not)."""
        return {
            "backbone": self.backbone,
            "image_size": self.image_size,
            "low": self.low_block,
            "high": self.high_block,
            "flip": self.flip,
        }


class FrozenFeatures(nn.Module):
    """The first ``high + 1`` blocks of a timm EfficientNet, frozen, returning blocks ``low`` and ``high``."""

    def __init__(self, backbone: nn.Module, low: int, high: int) -> None:
        super().__init__()
        blocks = getattr(backbone, "blocks", None)
        if blocks is None or not hasattr(backbone, "conv_stem") or high >= len(blocks):
            raise InputError("The backbone must be a timm EfficientNet with at least high + 1 blocks.")
        self.stem = nn.Sequential(*(cast(nn.Module, getattr(backbone, n)) for n in ("conv_stem", "bn1")))
        self.blocks = nn.ModuleList(blocks[: high + 1])
        self.low = low
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        with torch.no_grad():
            out = self(torch.zeros(1, 3, 64, 64))
        self.channels = (int(out["low"].shape[1]), int(out["high"].shape[1]))

    def train(self, mode: bool = True) -> FrozenFeatures:
        """Always evaluation mode: frozen BatchNorm statistics must not drift."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"low": stride-8 map, "high": stride-32 map}`` for images (N, 3, H, W)."""
        x = self.stem(x)
        low = x
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.low:
                low = x
        return {"low": low, "high": x}


def build_head(cfg: SegmenterConfig, channels: tuple[int, int], num_classes: int = 2) -> nn.Module:
    """A fresh LR-ASPP head (torchvision's) for feature maps of ``channels`` = (low, high) channels."""
    from torchvision.models.segmentation.lraspp import LRASPPHead

    return LRASPPHead(channels[0], channels[1], num_classes, cfg.inter_channels)


def load_backbone(name: str = BACKBONE) -> nn.Module:
    """The installed ImageNet backbone (never downloads; :class:`InputError` when its weights are missing)."""
    from cnn_demo import models
    from cnn_demo.weights import WeightsMissing

    try:
        return models.create(name, pretrained=True)
    except WeightsMissing as exc:
        raise InputError(
            "The ImageNet weights of EfficientNet-Lite0 are missing on this server, so no segmenter can be trained "
            "or used. Ask the person who runs the server to complete the set-up."
        ) from exc


def preprocess(images: Sequence[np.ndarray | Image.Image], size: int, dcfg: DataConfig) -> torch.Tensor:
    """Images as the backbone's input: resized to ``size``×``size`` (the data config's interpolation), scaled to
    0..1 and normalised with its mean and std. No crop, unlike classification: every pixel gets a label."""
    method = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}.get(
        dcfg.interpolation, Image.Resampling.BILINEAR
    )
    out = torch.empty(len(images), 3, size, size)
    mean = torch.tensor(dcfg.mean).view(3, 1, 1)
    std = torch.tensor(dcfg.std).view(3, 1, 1)
    for i, img in enumerate(images):
        pil = as_rgb(img).resize((size, size), method)
        arr = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)
        out[i] = (arr - mean) / std
    return out


def as_rgb(image: np.ndarray | Image.Image) -> Image.Image:
    """An RGB PIL image from a PIL image (EXIF orientation applied) or an H×W×3 / H×W uint8 array."""
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise InputError(f"Expected an H×W or H×W×3 image, got shape {image.shape}.")
        image = Image.fromarray(np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image).astype(np.uint8))
    else:
        image = ImageOps.exif_transpose(image) or image
    return image if image.mode == "RGB" else image.convert("RGB")


class PersonSegmenter(nn.Module):
    """Frozen features + trained head: class scores (N, classes, H/8, W/8) for preprocessed images."""

    def __init__(
        self, features: FrozenFeatures, head: nn.Module, cfg: SegmenterConfig, classes: Sequence[str], dcfg: DataConfig
    ) -> None:
        super().__init__()
        self.features = features
        self.head = head
        self.cfg = cfg
        self.classes = tuple(classes)
        self.data_config = dcfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores at stride 8 for a batch of preprocessed images."""
        return self.head(self.features(x))


@dataclass(frozen=True)
class PersonMask:
    """A label map at the image's size (0 background, 1 the trained class), its class names and the time taken."""

    labels: np.ndarray
    classes: tuple[str, ...]
    seconds: float

    @property
    def share(self) -> float:
        """The share of the image's pixels labelled as the trained class."""
        return float((self.labels == 1).mean())


@torch.inference_mode()
def segment(model: PersonSegmenter, image: np.ndarray | Image.Image) -> PersonMask:
    """Label every pixel of ``image``: preprocess, features, head, scores resized (bilinear) to the image, argmax."""
    start = time.perf_counter()
    img = as_rgb(image)
    x = preprocess([img], model.cfg.image_size, model.data_config)
    scores = F.interpolate(model(x), size=(img.height, img.width), mode="bilinear", align_corners=False)
    labels = scores.argmax(1)[0].to(torch.uint8).numpy()
    return PersonMask(labels, model.classes, time.perf_counter() - start)


def save_segmenter(
    folder: str | Path, head: nn.Module, cfg: SegmenterConfig, classes: Sequence[str], summary: dict[str, Any]
) -> Path:
    """Write the head's weights (safetensors) and ``segmenter.json`` (settings, classes, ``summary``) to ``folder``."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in head.state_dict().items()}, str(out / HEAD_FILE))
    info = {"format": FORMAT, "config": cfg.to_dict(), "classes": list(classes), "summary": summary}
    (out / INFO_FILE).write_text(json.dumps(info, indent=1, default=float))
    return out


def read_info(folder: str | Path) -> dict[str, Any]:
    """``segmenter.json`` of a saved segmenter, checked; :class:`InputError` when the folder holds none."""
    path = Path(folder) / INFO_FILE
    if not path.is_file() or not (Path(folder) / HEAD_FILE).is_file():
        raise InputError(f"{folder} holds no trained segmenter ({INFO_FILE} and {HEAD_FILE}); train one first.")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(f"{path} is not a segmenter saved by this app.")
    classes = info.get("classes")
    if not isinstance(classes, list) or len(classes) != 2 or not all(isinstance(c, str) for c in classes):
        raise InputError(f"{path} must name two classes.")
    return info


def load_segmenter(folder: str | Path, backbone: nn.Module | None = None) -> PersonSegmenter:
    """A saved segmenter, in evaluation mode. ``backbone``: the installed EfficientNet-Lite0 to share (not changed);
    by default a new copy is loaded."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cnn_demo.models import data_config

    info = read_info(folder)
    cfg = SegmenterConfig.from_dict(info["config"])
    features = FrozenFeatures(
        backbone if backbone is not None else load_backbone(cfg.backbone), cfg.low_block, cfg.high_block
    )
    head = build_head(cfg, features.channels, len(info["classes"]))
    try:
        head.load_state_dict(load_file(str(Path(folder) / HEAD_FILE)))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise InputError(f"The head's weights in {folder} do not fit the segmenter: {exc}") from exc
    return PersonSegmenter(features, head, cfg, info["classes"], data_config(cfg.backbone)).eval()
