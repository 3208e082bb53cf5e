"""A trained model (backbone + head): features, predictions, evaluation and Grad-CAM."""

from __future__ import annotations

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
from cnn_demo.finetune.transforms import batch_tensor, make_transform
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
            x = batch_tensor([im.convert("RGB") for im in images[i : i + batch_size]], tf).to(device_of(model))
            out.append(F.softmax(model(x), dim=1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.class_names)))


def device_of(module: nn.Module) -> torch.device:
    """The device ``module``'s parameters are on (the CPU for a module without any)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def extract_features(
    features: nn.Module,
    images: Sequence[Image.Image],
    tf: Callable,
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
    on_image: Callable[[int, Image.Image], None] | None = None,
    decode_threads: int | None = None,
    chunk: int = 64,
) -> torch.Tensor:
    """Pooled features of ``images`` (backbone in eval mode, under ``inference_mode``: no autograd bookkeeping);
    ``on_batch(n)`` after each batch of n, ``on_image(index, image)`` with each image, in order, once decoded.

    Work alternates between two phases that each have every core: ``decode_threads`` threads (default: torch's
    thread count) decode and transform the next ``chunk`` images (a packed dataset's files are decoded on access),
    then the backbone runs on them in batches. Decoding in a thread beside inference, as before, cost more than it
    hid: the inference threads wait for each other at every operator, so one of them losing its core to the decoder
    held up both (EfficientNet-Lite0 features of hymenoptera: ~64 img/s overlapped, ~90 in phases). A random
    transform needs ``decode_threads=1``, so that its draws come in the same order on every run. Batches of 8 in
    channels-last layout: on 2 CPU cores EfficientNet-Lite0 at 224 px runs ~95 img/s that way against ~25 img/s for
    batches of 32 in the default layout (``bench/finetune.py --features``); the model itself is left as it is.
    """
    features.eval()
    dev = device_of(features)
    threads = max(1, decode_threads or torch.get_num_threads())
    chunk = max(1, chunk // batch_size) * batch_size
    out = []

    def prepare(index: int) -> tuple[Image.Image, torch.Tensor]:
        image = images[index]
        return image, tf(image)

    with ThreadPoolExecutor(threads, thread_name_prefix="cnn-demo-decode") as pool, torch.inference_mode():
        for start in range(0, len(images), chunk):
            indices = range(start, min(start + chunk, len(images)))
            prepared = list(pool.map(prepare, indices)) if threads > 1 else [prepare(i) for i in indices]
            if on_image is not None:
                for i, (image, _) in zip(indices, prepared, strict=True):
                    on_image(i, image)
            for b in range(0, len(prepared), batch_size):
                x = torch.stack([t for _, t in prepared[b : b + batch_size]])
                out.append(features(x.to(dev).contiguous(memory_format=torch.channels_last)).cpu())
                if on_batch is not None:
                    on_batch(len(x))
            del prepared  # before the next chunk is decoded: one chunk of decoded images alive at a time
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

    size = model.config.image_size or model.backbone.preprocess.input_size[-1]
    net = model.model.eval()
    x = model.transform()(image.convert("RGB"))[None]
    if class_index is None:
        with torch.no_grad():
            class_index = int(net(x.to(device_of(net))).argmax(1))
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
