"""A trained model (backbone + head): features, predictions, evaluation and Grad-CAM."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnn_demo.errors import InputError
from cnn_demo.finetune.backbone import Backbone
from cnn_demo.finetune.config import TrainConfig
from cnn_demo.finetune.transforms import _batch, make_transform
from cnn_demo.io.images import load_image


@dataclass
class FineTuned:
    """A backbone with its trained head: predicts class probabilities for PIL images."""

    backbone: Backbone
    head: nn.Module
    class_names: list[str]
    config: TrainConfig
    #: The figures the export recorded (``finetune.export_metrics``), for a restored model; empty otherwise.
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> nn.Sequential:
        """Backbone features followed by the head, as one module."""
        return nn.Sequential(self.backbone.features, self.head)

    def transform(self) -> Callable:
        """The evaluation preprocessing."""
        return make_transform(self.backbone.preprocess, None, self.config.image_size)

    @torch.no_grad()
    def predict(self, images: Sequence[Image.Image], batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``(N, classes)`` for RGB images."""
        model = self.model.eval()
        tf = self.transform()
        out = []
        for i in range(0, len(images), batch_size):
            x = _batch([im.convert("RGB") for im in images[i : i + batch_size]], tf).to(_device_of(model))
            out.append(F.softmax(model(x), dim=1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.class_names)))


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def extract_features(
    features: nn.Module,
    images: Sequence[Image.Image],
    tf: Callable,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
    on_image: Callable[[int, Image.Image], None] | None = None,
    prefetch: int = 2,
) -> torch.Tensor:
    """Pooled features of ``images`` (backbone in eval mode, under ``inference_mode``: no autograd bookkeeping);
    ``on_batch(n)`` after each batch of n, ``on_image(index, image)`` with each image as it is decoded.

    A thread decodes and transforms the next ``prefetch`` batches while the backbone runs on this one, so decoding
    (a packed dataset's files are decoded on access) overlaps inference instead of adding to it; the batches are
    prepared in order, so random augmentations draw exactly as they would one after the other. Batches of 8 in
    channels-last layout: on 2 CPU cores EfficientNet-Lite0 at 224 px runs ~95 img/s that way against ~25 img/s for
    batches of 32 in the default layout (``bench/finetune.py --features``); the model itself is left as it is.
    """
    features.eval()
    dev = _device_of(features)
    out = []

    def prepare(start: int) -> tuple[int, torch.Tensor]:
        batch = images[start : start + batch_size]
        if on_image is not None:
            for j, image in enumerate(batch):
                on_image(start + j, image)
        return len(batch), _batch(batch, tf)

    starts = list(range(0, len(images), batch_size))
    with ThreadPoolExecutor(1, thread_name_prefix="cnn-demo-decode") as pool, torch.inference_mode():
        pending = deque(pool.submit(prepare, start) for start in starts[: max(1, prefetch)])
        following = iter(starts[max(1, prefetch) :])
        try:
            while pending:
                n, x = pending.popleft().result()
                nxt = next(following, None)
                if nxt is not None:
                    pending.append(pool.submit(prepare, nxt))
                out.append(features(x.to(dev).contiguous(memory_format=torch.channels_last)).cpu())
                if on_batch is not None:
                    on_batch(n)
        finally:
            for future in pending:  # cancelled (or failed): no more decoding
                future.cancel()
    # Inference tensors cannot enter autograd; the head trains on these, so hand back ordinary tensors.
    return torch.cat(out).flatten(1).clone() if out else torch.zeros(0, 0)


def evaluate(probs: np.ndarray, labels: Sequence[int], class_names: Sequence[str], n_mistakes: int = 12) -> dict:
    """Accuracy, per-class accuracy, confusion matrix (rows = true class) and the most confident mistakes."""
    y = np.asarray(labels, dtype=int)
    k = len(class_names)
    pred = probs.argmax(1)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    per_class = {c: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, c in enumerate(class_names)}
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:n_mistakes]
    mistakes = [
        {"index": int(i), "true": int(y[i]), "pred": int(pred[i]), "confidence": float(probs[i, pred[i]])}
        for i in order
    ]
    return {
        "val_accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "per_class_accuracy": per_class,
        "confusion": cm.tolist(),
        "mistakes": mistakes,
    }


def gradcam(model: FineTuned, image: Image.Image, class_index: int | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM of ``class_index`` (default: the predicted class) over the image the model actually sees.

    Returns the overlay (uint8 H×W×3, the resized and centre-cropped input) and the class used.
    """
    from cnn_demo.models import explain

    size = model.config.image_size or model.backbone.preprocess.input_size
    net = model.model.eval()
    x = model.transform()(image.convert("RGB"))[None]
    if class_index is None:
        with torch.no_grad():
            class_index = int(net(x.to(_device_of(net))).argmax(1))
    layer = explain.default_gradcam_layer(net, (3, size, size))
    cam = explain.grad_cam(net, x, layer, class_index)
    plain = replace(model.backbone.preprocess, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    view = make_transform(plain, None, size)(image.convert("RGB")).permute(1, 2, 0).clamp(0, 1).mul(255)
    return explain.overlay(view.round().byte().numpy(), cam), class_index


def predict_files(model: FineTuned, files: Sequence[tuple[str, bytes]]) -> list[tuple[str, Image.Image, np.ndarray]]:
    """Decode uploaded images (through ``load_image``) and predict: ``[(name, image, probabilities), ...]``."""
    images = []
    for name, data in files:
        try:
            images.append((name, load_image(data, max_side=512)))
        except InputError as exc:
            raise InputError(f"{name}: {exc}") from exc
    if not images:
        return []
    probs = model.predict([im for _, im in images])
    return [(name, im, p) for (name, im), p in zip(images, probs, strict=True)]
