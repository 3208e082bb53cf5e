"""Training the person detector: features cached once, then epochs over the heads, AP50 after each (pycocotools).

:class:`Trainer` is shared by the job (:mod:`~cnn_demo.applications.person_detector.job`), the command line
(``train-detector``) and ``bench/applications_detector.py``: the same split, cache, schedule and evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_convert

from cnn_demo.applications.metrics import coco_map
from cnn_demo.applications.person_detector.model import DetectorConfig, PersonDetector
from cnn_demo.data.boxes import BoxDataset
from cnn_demo.errors import InputError

LOSS_NAMES = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")
#: What the page's legends call the job's metrics (torchvision's loss names mean little to a student).
METRIC_LABELS = {
    "loss_objectness": "RPN: objectness",
    "loss_rpn_box_reg": "RPN: box",
    "loss_classifier": "head: person or background",
    "loss_box_reg": "head: box",
    "loss": "all four",
    "ap50": "AP50",
    "ap": "AP (IoU 0.5 to 0.95)",
}
#: Steps of linear learning-rate warm-up at the start (a fresh box head gives large gradients).
WARMUP_STEPS = 30


@dataclass
class FeatureCache:
    """The frozen stages' output for a list of photos (float16), their input sizes, scales and boxes."""

    features: torch.Tensor
    sizes: list[tuple[int, int]]
    scales: list[float]
    #: Boxes in input pixels (scaled photo), per photo.
    boxes: list[torch.Tensor]
    #: The same for every photo mirrored left to right, when cached.
    flipped: torch.Tensor | None = None
    flipped_boxes: list[torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.sizes)


def cache_features(
    model: PersonDetector,
    data: BoxDataset,
    *,
    flip: bool = False,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 8,
) -> FeatureCache:
    """Run the frozen stages once over every photo of ``data`` (and its mirror image with ``flip``)."""
    feats, flipped, sizes, scales, boxes, fboxes = [], [], [], [], [], []
    total = len(data)
    for start in range(0, total, batch):
        xs, fx = [], []
        for image, b in zip(data.images[start : start + batch], data.boxes[start : start + batch], strict=True):
            x, scale, (h, w) = model.prepare(image)
            sizes.append((h, w))
            scales.append(scale)
            bb = torch.from_numpy(np.asarray(b, dtype=np.float32).reshape(-1, 4) * scale)
            boxes.append(bb)
            xs.append(x)
            if flip:
                m = x.clone()
                m[:, :h, :w] = x[:, :h, :w].flip(-1)
                fx.append(m)
                fboxes.append(torch.stack([w - bb[:, 2], bb[:, 1], w - bb[:, 0], bb[:, 3]], dim=1))
        feats.append(model.stem_features(torch.stack(xs)).half())
        if flip:
            flipped.append(model.stem_features(torch.stack(fx)).half())
        if progress is not None:
            progress(min(start + batch, total), total)
    return FeatureCache(
        torch.cat(feats), sizes, scales, boxes, torch.cat(flipped) if flip else None, fboxes if flip else None
    )


def split_photos(data: BoxDataset, holdout: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out photos: ``holdout`` of the photos with a box and of those without,
    at least one held-out photo with a box and at least one such photo left to train on."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    with_box = [i for i, b in enumerate(data.boxes) if len(b)]
    without = [i for i, b in enumerate(data.boxes) if not len(b)]
    for group in (with_box, without):
        order = [group[i] for i in rng.permutation(len(group))]
        n_val = round(len(order) * holdout)
        if group is with_box and holdout > 0 and len(order) >= 2:
            n_val = min(max(n_val, 1), len(order) - 1)
        val += order[:n_val]
        train += order[n_val:]
    if not any(len(data.boxes[i]) for i in train):
        raise InputError("At least 2 photos with a box are needed: one to train on, one to check.")
    return np.array(sorted(train), dtype=int), np.array(sorted(val), dtype=int)


@torch.no_grad()
def detections(model: PersonDetector, cache: FeatureCache, batch: int = 16) -> list[tuple[np.ndarray, np.ndarray]]:
    """(boxes in each photo's own pixels, scores) for every cached photo."""
    was = model.training
    model.eval()
    out = []
    for i in range(0, len(cache), batch):
        dets, _ = model.heads(cache.features[i : i + batch], cache.sizes[i : i + batch])
        out += [
            (d["boxes"].numpy() / s, d["scores"].numpy())
            for d, s in zip(dets, cache.scales[i : i + batch], strict=True)
        ]
    model.train(was)
    return out


def average_precision(found: list[tuple[np.ndarray, np.ndarray]], truth: BoxDataset) -> dict[str, float]:
    """COCO AP and AP50 (pycocotools) of detections on the photos of ``truth``, in order."""
    coco_boxes = [box_convert(torch.as_tensor(boxes).reshape(-1, 4), "xyxy", "xywh").tolist() for boxes, _ in found]
    results = [
        {"image_id": i + 1, "category_id": 1, "bbox": xywh, "score": float(s)}
        for i, ((_, scores), xywhs) in enumerate(zip(found, coco_boxes, strict=True))
        for xywh, s in zip(xywhs, scores, strict=True)
    ]
    stats = coco_map(truth.to_coco(), results)
    return {"ap50": max(stats["AP50"], 0.0), "ap": max(stats["AP"], 0.0)}


class Trainer:
    """One training run: the split, the cached features, the model, the optimiser and the schedule.

    ``run_epoch(epoch)`` trains one pass over the training photos (each seen as it is or mirrored, at random) and
    measures AP50 on the held-out ones; ``state()``/``restore()`` make it resumable through
    :func:`cnn_demo.training.fit`.
    """

    def __init__(
        self,
        data: BoxDataset,
        config: DetectorConfig,
        *,
        progress: Callable[[int, int], None] | None = None,
        model: PersonDetector | None = None,
    ) -> None:
        data.require_trainable()
        self.config = config
        self.data = data
        torch.manual_seed(config.seed)
        self.model = model if model is not None else PersonDetector(config)
        self.model.train()
        self.train_idx, self.val_idx = split_photos(data, config.holdout, config.seed)
        self.train_data, self.val_data = data.subset(self.train_idx), data.subset(self.val_idx)
        t0 = time.perf_counter()
        n_train, n_val = len(self.train_idx), len(self.val_idx)

        def tell(done: int, total: int, offset: int = 0) -> None:
            if progress is not None:
                progress(offset + done, n_train + n_val)

        self.cache = cache_features(self.model, self.train_data, flip=config.flip, progress=tell)
        self.val_cache = cache_features(self.model, self.val_data, progress=lambda d, t: tell(d, t, n_train))
        self.cache_seconds = time.perf_counter() - t0
        self.params = [p for p in self.model.trainable().parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.steps_per_epoch = math.ceil(len(self.cache) / config.batch_size)
        self.step = 0

    def lr_at(self, step: int) -> float:
        """Warm-up, then cosine decay to 0 over all the epochs."""
        total = self.config.epochs * self.steps_per_epoch
        warm = min(1.0, (step + 1) / min(WARMUP_STEPS, max(1, total // 5)))
        return self.config.lr * warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    def _batch(self, idx: list[int], mirror: list[bool]) -> tuple[torch.Tensor, list, list[dict]]:
        c = self.cache
        feats = torch.stack(
            [c.flipped[i] if m and c.flipped is not None else c.features[i] for i, m in zip(idx, mirror, strict=True)]
        )
        targets = []
        for i, m in zip(idx, mirror, strict=True):
            boxes = c.flipped_boxes[i] if m and c.flipped_boxes is not None else c.boxes[i]
            targets.append({"boxes": boxes, "labels": torch.ones(len(boxes), dtype=torch.int64)})
        return feats, [c.sizes[i] for i in idx], targets

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training photos; the mean of each loss."""
        self.model.train()
        n = len(self.cache)
        order = torch.randperm(n, generator=self.generator).tolist()
        mirror = (torch.rand(n, generator=self.generator) < 0.5).tolist() if self.cache.flipped is not None else []
        sums = dict.fromkeys(LOSS_NAMES, 0.0)
        bs = self.config.batch_size
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            feats, sizes, targets = self._batch(idx, [bool(mirror[i]) if mirror else False for i in idx])
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr_at(self.step)
            _, losses = self.model.heads(feats, sizes, targets)
            loss = sum(losses.values())
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            self.optimizer.step()
            self.step += 1
            for k in LOSS_NAMES:
                sums[k] += float(losses[k].detach()) * len(idx)
        out = {k: v / n for k, v in sums.items()}
        out["loss"] = sum(out.values())
        return out

    def evaluate(self) -> dict[str, float]:
        """AP50 and AP on the held-out photos (0 when none are held out)."""
        if not len(self.val_idx):
            return {"ap50": 0.0, "ap": 0.0}
        return average_precision(detections(self.model, self.val_cache), self.val_data)

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch and measure: ``epoch``, the losses, ``ap50``/``ap`` held out, ``seconds``, ``lr``."""
        t0 = time.perf_counter()
        losses = self.train_epoch()
        seconds = time.perf_counter() - t0
        return {"epoch": epoch, **losses, **self.evaluate(), "seconds": seconds, "lr": self.lr_at(self.step)}

    def state(self) -> dict:
        """What a checkpoint keeps (the trained parts, the optimiser, the step)."""
        return {"model": self.model.trainable().state_dict(), "opt": self.optimizer.state_dict(), "step": self.step}

    def restore(self, state: dict) -> None:
        """Continue from :meth:`state`'s output."""
        self.model.trainable().load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["opt"])
        self.step = int(state["step"])

    def preview_index(self) -> int:
        """The held-out photo the page shows proposals on: the one with the most boxes, up to six."""
        if not len(self.val_idx):
            return 0
        counts = [min(len(b), 6) for b in self.val_data.boxes]
        return int(np.argmax(counts))
