"""Training: the frozen backbone's features computed once (and cached on disk), then only the head learns.

Phase 1 runs every photo (and its mirror image) through the frozen EfficientNet-Lite0 once and keeps the two
feature maps; phase 2 trains the LR-ASPP head on them for a number of epochs, which takes seconds because the
backbone never runs again. A second training on the same photos with other head settings skips phase 1.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnn_demo import training
from cnn_demo.applications.person_segmenter.data import PairData, split
from cnn_demo.applications.person_segmenter.evaluate import baselines, confusion, iou_report
from cnn_demo.applications.person_segmenter.model import (
    FrozenFeatures,
    PersonSegmenter,
    SegmenterConfig,
    build_head,
    load_backbone,
    preprocess,
    segment,
)

Phase = Callable[[str, int, int], None]
Features = dict[str, torch.Tensor]


def feature_key(data: PairData, cfg: SegmenterConfig) -> str:
    """Names the cached features of these photos and masks with these settings (content hash)."""
    h = hashlib.sha256(json.dumps(cfg.feature_dict(), sort_keys=True).encode())
    for img, mask in zip(data.images, data.masks, strict=True):
        h.update(str(img.shape).encode())
        h.update(np.ascontiguousarray(img).tobytes())
        h.update(np.ascontiguousarray(mask).tobytes())
    return "personseg-" + h.hexdigest()[:32]


@torch.inference_mode()
def compute_features(
    features: FrozenFeatures, data: PairData, cfg: SegmenterConfig, dcfg, on_phase: Phase | None = None
) -> Features:
    """Both feature maps of every photo (and, with ``cfg.flip``, of its mirror image) as float16, and the masks
    resized (nearest) to ``image_size``; reports ``("features", done, total)`` after each photo."""
    size = cfg.image_size
    parts: dict[str, list[torch.Tensor]] = {"low": [], "high": [], "low_flip": [], "high_flip": []}
    masks = torch.empty(len(data), size, size, dtype=torch.uint8)
    for i, (img, mask) in enumerate(zip(data.images, data.masks, strict=True)):
        x = preprocess([img], size, dcfg)
        batch = torch.cat([x, x.flip(-1)]) if cfg.flip else x
        out = features(batch)
        parts["low"].append(out["low"][:1].half())
        parts["high"].append(out["high"][:1].half())
        if cfg.flip:
            parts["low_flip"].append(out["low"][1:].half())
            parts["high_flip"].append(out["high"][1:].half())
        masks[i] = torch.from_numpy(np.array(Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST)))
        if on_phase is not None:
            on_phase("features", i + 1, len(data))
    return {"masks": masks, **{k: torch.cat(v) for k, v in parts.items() if v}}


def cached_features(
    features: FrozenFeatures,
    data: PairData,
    cfg: SegmenterConfig,
    dcfg,
    cache_dir: Path | None,
    on_phase: Phase | None = None,
) -> tuple[Features, bool]:
    """:func:`compute_features`, read from ``cache_dir`` when these photos were seen with these settings before;
    returns the features and whether they came from the cache."""
    path = None if cache_dir is None else Path(cache_dir) / f"{feature_key(data, cfg)}.pt"
    if path is not None and path.is_file():
        try:
            feats = torch.load(path, map_location="cpu", weights_only=True)
            path.touch()  # recently used: not expired
            return feats, True
        except Exception:  # a damaged cache file: compute again
            path.unlink(missing_ok=True)
    feats = compute_features(features, data, cfg, dcfg, on_phase)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{time.time_ns()}.tmp")
        torch.save(feats, tmp)
        tmp.replace(path)
    return feats, False


@dataclass
class TrainedSegmenter:
    """What :func:`train_segmenter` returns: the segmenter, its history and what it scored on held-out photos."""

    model: PersonSegmenter
    history: list[dict[str, Any]]
    #: IoU per class on the validation photos at their own size (the real pipeline), and the baselines'.
    validation: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    train_stems: list[str]
    val_stems: list[str]
    feature_seconds: float
    train_seconds: float
    from_cache: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: validation IoU against the baselines, counts and timings."""
        return {
            "classes": list(self.model.classes),
            "validation": self.validation,
            "baselines": self.baselines,
            "n_train": len(self.train_stems),
            "n_val": len(self.val_stems),
            "val_stems": self.val_stems,
            "epochs": len(self.history),
            "feature_seconds": round(self.feature_seconds, 2),
            "train_seconds": round(self.train_seconds, 2),
            "features_from_cache": self.from_cache,
            "head_parameters": sum(p.numel() for p in self.model.head.parameters()),
            **self.extra,
        }


def _scores(head: nn.Module, low: torch.Tensor, high: torch.Tensor, size: int) -> torch.Tensor:
    out = head({"low": low.float(), "high": high.float()})
    return F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False)


@torch.no_grad()
def predict_cached(head: nn.Module, feats: Features, idx: np.ndarray, size: int, batch: int = 16) -> np.ndarray:
    """Label maps (len(idx), size, size) of the photos ``idx`` from their cached features."""
    was = head.training
    head.eval()
    out = [
        _scores(head, feats["low"][idx[i : i + batch]], feats["high"][idx[i : i + batch]], size).argmax(1).byte()
        for i in range(0, len(idx), batch)
    ]
    head.train(was)
    return torch.cat(out).numpy()


def _training_tensors(
    feats: Features, train_idx: np.ndarray, cfg: SegmenterConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training photos' two feature maps and their masks at the loss grid; samples 0..n-1 are the training
    photos, n..2n-1 (with ``cfg.flip``) their mirror images."""
    masks = feats["masks"]  # uint8: a long copy of every mask would take 8 times the memory
    low = torch.cat([feats["low"][train_idx], *([feats["low_flip"][train_idx]] if cfg.flip else [])])
    high = torch.cat([feats["high"][train_idx], *([feats["high_flip"][train_idx]] if cfg.flip else [])])
    target = torch.cat([masks[train_idx], *([masks[train_idx].flip(-1)] if cfg.flip else [])])
    step = cfg.loss_stride
    return low, high, target[:, step // 2 :: step, step // 2 :: step]  # the mask pixel nearest each grid point


def _schedule(opt: torch.optim.Optimizer, lr: float, total: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate over ``total`` steps, moved after every optimizer step."""
    sched: torch.optim.lr_scheduler.LRScheduler
    if total >= 4:  # one-cycle: warm up over 10 % of the steps (at least 2), then anneal; the rate moves every batch
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=max(0.1, 2 / total))
    else:  # too few steps for a cycle (a tiny upload for 1 epoch): a constant rate
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    opt.register_step_post_hook(lambda *_: sched.step())
    return sched


class _HeadTraining:
    """The head, its optimizer and the validation split of one :func:`train_segmenter` run: what
    :func:`cnn_demo.training.fit` calls each epoch, saves and restores."""

    def __init__(
        self,
        data: PairData,
        cfg: SegmenterConfig,
        feats: Features,
        channels: tuple[int, int],
        on_predictions: Callable[[int, np.ndarray], None] | None,
        history: list[dict[str, Any]],
    ) -> None:
        self.classes, self.cfg, self.feats = data.classes, cfg, feats
        self.on_predictions, self.history = on_predictions, history
        train_idx, self.val_idx = split(len(data), cfg.val_fraction, cfg.seed)
        self.low, self.high, self.target = _training_tensors(feats, train_idx, cfg)
        torch.manual_seed(cfg.seed)
        self.head = build_head(cfg, channels, 2)
        self.opt = torch.optim.AdamW(self.head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # A few pairs of a student's own still get several steps per epoch (19 photos in batches of 16 would get 2).
        self.batch = max(1, min(cfg.batch_size, len(self.low) // 4))
        self.sched = _schedule(self.opt, cfg.lr, cfg.epochs * -(-len(self.low) // self.batch))
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.val_truth = feats["masks"][self.val_idx].numpy()
        valid = self.val_truth != 255
        # IoU of painting the class everywhere
        self.all_person = float((self.val_truth[valid] == 1).sum() / max(1, valid.sum()))

    def loss_of(self, idx: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the samples ``idx`` at the loss grid (255 ignored)."""
        step = self.cfg.loss_stride
        scores = _scores(self.head, self.low[idx], self.high[idx], self.cfg.image_size // step)
        return F.cross_entropy(scores, self.target[idx].long(), ignore_index=255)

    def run_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training samples, then IoU on the validation photos' cached features."""
        self.head.train()
        loss = training.train_epoch(len(self.low), self.batch, self.gen, self.opt, self.loss_of)
        pred = predict_cached(self.head, self.feats, self.val_idx, self.cfg.image_size)
        report = iou_report(confusion(pred, self.val_truth), self.classes)
        if self.on_predictions is not None:
            self.on_predictions(epoch, pred)
        ious = list(report["iou"].values())
        row = {
            "epoch": epoch,
            "loss": loss,
            "iou": ious[1],
            "iou_background": ious[0],
            "mean_iou": report["mean_iou"],
            f"baseline: all {self.classes[1]}": self.all_person,
        }
        self.history.append(row)
        return row

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps."""
        return {
            "head": self.head.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "history": self.history,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Back to a checkpoint's :meth:`state`."""
        self.head.load_state_dict(state["head"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])


def _validation_confusion(model: PersonSegmenter, data: PairData, val_idx: np.ndarray) -> np.ndarray:
    """The 2×2 confusion matrix of the segmenter on the validation photos at their own size (the real pipeline)."""
    conf = np.zeros((2, 2), dtype=np.int64)
    for i in val_idx:
        conf += confusion(segment(model, data.images[i]).labels, data.masks[i])
    return conf


def train_segmenter(
    data: PairData,
    cfg: SegmenterConfig | None = None,
    *,
    cache_dir: Path | None = None,
    on_phase: Phase | None = None,
    on_epoch: Callable[[int, int, dict[str, Any]], None] | None = None,
    on_predictions: Callable[[int, np.ndarray], None] | None = None,
    checkpoint: Callable[[dict[str, Any], int], None] | None = None,
    resume_from: tuple[dict[str, Any], int] | None = None,
    backbone: nn.Module | None = None,
) -> TrainedSegmenter:
    """Train the head on ``data``'s training split; score it on the validation split after every epoch (on the
    cached features) and at the end at the photos' own size. ``on_predictions(epoch, maps)`` gets the validation
    label maps of each epoch; ``checkpoint``/``resume_from`` make the run resumable (:func:`cnn_demo.training.fit`).
    """
    from cnn_demo.models import data_config

    cfg = cfg or SegmenterConfig()
    dcfg = data_config(cfg.backbone)
    features = FrozenFeatures(
        backbone if backbone is not None else load_backbone(cfg.backbone), cfg.low_block, cfg.high_block
    )
    t0 = time.perf_counter()
    feats, from_cache = cached_features(features, data, cfg, dcfg, cache_dir, on_phase)
    feature_seconds = time.perf_counter() - t0
    history: list[dict[str, Any]] = [] if resume_from is None else list(resume_from[0].get("history", []))
    run = _HeadTraining(data, cfg, feats, features.channels, on_predictions, history)
    t1, cpu1 = time.perf_counter(), time.process_time()
    training.fit(
        cfg.epochs,
        run.run_epoch,
        generator=run.gen,
        state=run.state,
        restore=run.restore,
        resume_from=resume_from,
        checkpoint=checkpoint,
        progress=on_epoch,
    )
    train_seconds, train_cpu = time.perf_counter() - t1, time.process_time() - cpu1
    model = PersonSegmenter(features, run.head.eval(), cfg, data.classes, dcfg).eval()
    conf = _validation_confusion(model, data, run.val_idx)
    train_idx = split(len(data), cfg.val_fraction, cfg.seed)[0]
    return TrainedSegmenter(
        model,
        history,
        iou_report(conf, data.classes),
        baselines(conf, data.classes),
        [data.stems[i] for i in train_idx],
        [data.stems[i] for i in run.val_idx],
        feature_seconds,
        train_seconds,
        from_cache,
        {
            "data": data.source,
            "mask_rule": data.rule,
            "train_cpu_seconds": round(train_cpu, 2),
            "batch_size": run.batch,
        },
    )
