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
    from cnn_demo.models.data import data_config

    cfg = cfg or SegmenterConfig()
    dcfg = data_config(cfg.backbone)
    features = FrozenFeatures(
        backbone if backbone is not None else load_backbone(cfg.backbone), cfg.low_block, cfg.high_block
    )
    t0 = time.perf_counter()
    feats, from_cache = cached_features(features, data, cfg, dcfg, cache_dir, on_phase)
    feature_seconds = time.perf_counter() - t0
    train_idx, val_idx = split(len(data), cfg.val_fraction, cfg.seed)
    size = cfg.image_size
    masks = feats["masks"]  # uint8: a long copy of every mask would take 8 times the memory
    # Samples 0..n-1 are the training photos, n..2n-1 their mirror images.
    low = torch.cat([feats["low"][train_idx], *([feats["low_flip"][train_idx]] if cfg.flip else [])])
    high = torch.cat([feats["high"][train_idx], *([feats["high_flip"][train_idx]] if cfg.flip else [])])
    target = torch.cat([masks[train_idx], *([masks[train_idx].flip(-1)] if cfg.flip else [])])
    step = cfg.loss_stride
    target = target[:, step // 2 :: step, step // 2 :: step]  # the mask pixel nearest each loss grid point
    torch.manual_seed(cfg.seed)
    head = build_head(cfg, features.channels, 2)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # A few pairs of a student's own still get several steps per epoch (19 photos in batches of 16 would get 2).
    batch = max(1, min(cfg.batch_size, len(low) // 4))
    steps_per_epoch = -(-len(low) // batch)
    total = cfg.epochs * steps_per_epoch
    sched: torch.optim.lr_scheduler.LRScheduler
    if total >= 4:  # one-cycle: warm up over 10 % of the steps (at least 2), then anneal; the rate moves every batch
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total, pct_start=max(0.1, 2 / total)
        )
    else:  # too few steps for a cycle (a tiny upload for 1 epoch): a constant rate
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    opt.register_step_post_hook(lambda *_: sched.step())
    gen = torch.Generator().manual_seed(cfg.seed)
    val_truth = feats["masks"][val_idx].numpy()
    valid = val_truth != 255
    all_person = float((val_truth[valid] == 1).sum() / max(1, valid.sum()))  # IoU of painting the class everywhere
    history: list[dict[str, Any]] = [] if resume_from is None else list(resume_from[0].get("history", []))

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        scores = _scores(head, low[idx], high[idx], size // step)
        return F.cross_entropy(scores, target[idx].long(), ignore_index=255)

    def run_epoch(epoch: int) -> dict[str, Any]:
        head.train()
        loss = training.train_epoch(len(low), batch, gen, opt, loss_of)
        pred = predict_cached(head, feats, val_idx, size)
        report = iou_report(confusion(pred, val_truth), data.classes)
        if on_predictions is not None:
            on_predictions(epoch, pred)
        ious = list(report["iou"].values())
        row = {
            "epoch": epoch,
            "loss": loss,
            "iou": ious[1],
            "iou_background": ious[0],
            "mean_iou": report["mean_iou"],
            f"baseline: all {data.classes[1]}": all_person,
        }
        history.append(row)
        return row

    def restore(state: dict[str, Any]) -> None:
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])

    t1, cpu1 = time.perf_counter(), time.process_time()
    training.fit(
        cfg.epochs,
        run_epoch,
        generator=gen,
        state=lambda: {
            "head": head.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "history": history,
        },
        restore=restore,
        resume_from=resume_from,
        checkpoint=checkpoint,
        progress=on_epoch,
    )
    train_seconds, train_cpu = time.perf_counter() - t1, time.process_time() - cpu1
    model = PersonSegmenter(features, head.eval(), cfg, data.classes, dcfg).eval()
    conf = np.zeros((2, 2), dtype=np.int64)
    for i in val_idx:
        conf += confusion(segment(model, data.images[i]).labels, data.masks[i])
    return TrainedSegmenter(
        model,
        history,
        iou_report(conf, data.classes),
        baselines(conf, data.classes),
        [data.stems[i] for i in train_idx],
        [data.stems[i] for i in val_idx],
        feature_seconds,
        train_seconds,
        from_cache,
        {"data": data.source, "mask_rule": data.rule, "train_cpu_seconds": round(train_cpu, 2), "batch_size": batch},
    )
