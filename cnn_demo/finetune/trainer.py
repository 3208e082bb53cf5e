"""The one fine-tuning routine, train(), and its results and honest accuracy report."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnn_demo import training
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.finetune.backbone import Backbone, load_backbone
from cnn_demo.finetune.config import TrainConfig, build_head
from cnn_demo.finetune.data import THUMB, ImageData, _shrunk, keep_for
from cnn_demo.finetune.features import FeatureCache, feature_key, frozen_features, state_digest
from cnn_demo.finetune.model import FineTuned, _device_of, evaluate, extract_features
from cnn_demo.finetune.transforms import _batch, make_transform


def _set_trainable(bb: Backbone, cfg: TrainConfig) -> list[nn.Parameter]:
    for p in bb.features.parameters():
        p.requires_grad_(False)
    if cfg.strategy == "frozen":
        return []
    if cfg.strategy == "full":
        modules = [bb.features]
    else:
        if not bb.stages:
            raise InputError(f"{bb.name} does not list its stages, so 'partial' is not available; use 'full'.")
        modules = bb.stages[-min(cfg.unfreeze, len(bb.stages)) :]
    params = []
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params


def _train_mode(bb: Backbone, cfg: TrainConfig) -> None:
    """Frozen parts stay in eval mode (their BatchNorm statistics must not drift)."""
    bb.features.eval()
    if cfg.strategy == "full":
        bb.features.train()
    elif cfg.strategy == "partial":
        for m in bb.stages[-min(cfg.unfreeze, len(bb.stages)) :]:
            m.train()


@dataclass
class TrainResult:
    """What :func:`train` returns: the model, the metric history and the final evaluation."""

    model: FineTuned
    history: list[dict[str, float]]
    evaluation: dict[str, Any]
    val_probs: np.ndarray
    best_epoch: int
    seconds: float
    feature_seconds: float
    test_probs: np.ndarray | None = None
    final_test_accuracy: float | None = None
    #: uint8 thumbnails of the validation (``"val"``) and test images, made with the frozen features (else ``None``)
    thumbnails: dict[str, np.ndarray] | None = None

    @property
    def final_val_accuracy(self) -> float:
        """Validation accuracy after the last epoch trained (not chosen by looking at the validation set)."""
        return float(self.history[-1]["val_accuracy"]) if self.history else 0.0

    @property
    def best_val_accuracy(self) -> float:
        """Validation accuracy of the best epoch (lowest validation loss): optimistic, the epoch was chosen on it."""
        return float(self.history[self.best_epoch - 1]["val_accuracy"]) if self.best_epoch else self.final_val_accuracy


def majority_baseline(labels: Sequence[int]) -> tuple[int, float]:
    """The most frequent class of ``labels`` and the accuracy of always guessing it there: the best any constant
    answer scores, so the floor an accuracy must beat to mean anything (ties go to the lower class index)."""
    y = np.asarray(labels, dtype=int)
    if not len(y):
        return 0, 0.0
    majority = int(np.argmax(np.bincount(y)))
    return majority, float((y == majority).mean())


def accuracy_report(result: TrainResult, data: ImageData) -> dict[str, Any]:
    """Accuracies told apart: the final and the best epoch on validation, the held-out test split (of the model
    kept, the best epoch, and of the final epoch), each beside the majority-class baseline."""
    majority, base_val = majority_baseline(data.val_labels)
    out: dict[str, Any] = {
        "final_epoch": len(result.history),
        "final_val_accuracy": result.final_val_accuracy,
        "best_val_accuracy": result.best_val_accuracy,
        "majority_class": data.class_names[majority],
        "baseline_val_accuracy": base_val,
        "n_train": len(data.train_labels),
        "n_val": len(data.val_labels),
        "n_test": len(data.test_labels),
    }
    if result.test_probs is not None and len(data.test_labels):
        y = np.asarray(data.test_labels)
        out["test_accuracy"] = float((result.test_probs.argmax(1) == y).mean())
        out["final_test_accuracy"] = result.final_test_accuracy
        test_majority, out["baseline_test_accuracy"] = majority_baseline(data.test_labels)
        out["test_majority_class"] = data.class_names[test_majority]
    return out


#: The figures an export carries (config.json, ONNX metadata): the kept model's validation accuracy and the
#: honest ones beside it (final and best epoch, the majority-class baselines, the held-out test split).
EXPORT_METRICS = (
    "val_accuracy",
    "final_epoch",
    "best_epoch",
    "final_val_accuracy",
    "best_val_accuracy",
    "majority_class",
    "baseline_val_accuracy",
    "n_train",
    "n_val",
    "n_test",
    "test_accuracy",
    "final_test_accuracy",
    "test_majority_class",
    "baseline_test_accuracy",
)


def export_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of a job's or the CLI's ``summary`` that go into the exported model, so a downloaded model
    says which epoch it is and what always guessing the majority class would score (never a lone accuracy)."""
    return {k: summary[k] for k in EXPORT_METRICS if summary.get(k) is not None}


def train(
    data: ImageData,
    cfg: TrainConfig,
    *,
    backbone: Backbone | None = None,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    checkpoint: Callable[[dict[str, Any], int], None] | None = None,
    resume_from: tuple[dict[str, Any], int] | None = None,
    cache_dir: Path | None = None,
    device: torch.device | None = None,
    on_phase: Callable[[str, int, int], None] | None = None,
    cache_mb: float = 2000.0,
) -> TrainResult:
    """Fine-tune ``cfg.backbone`` on ``data``; seeded, so the same inputs give the same model.

    ``on_epoch(epoch, epochs, metrics)`` reports progress; ``on_phase(phase, done, total)`` reports the phases:
    ``"features"`` (images whose frozen features are extracted, of all) and ``"epochs"`` (once, before the first
    epoch runs). The model kept is the best epoch (lowest validation loss); the test images, if any, are only
    looked at after training. ``checkpoint(state, epoch)`` is called after
    every epoch with a state that ``resume_from=(state, epoch)`` continues from exactly (the state shares
    tensors with the training, so save or copy it during the call). Runs on ``device`` (default: the GPU when
    there is one). Frozen features go through the shared cache in ``cache_dir`` (at most ``cache_mb`` MB; see
    ``finetune.features``): whoever trains on the same images through the same backbone next reads them.
    """
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    bb = backbone or load_backbone(cfg.backbone, cfg.pretrained)
    k = len(data.class_names)
    head = build_head(bb.num_features, k, cfg.head)
    backbone_params = _set_trainable(bb, cfg)
    size = cfg.image_size or bb.preprocess.input_size
    keep = keep_for(size, bb.preprocess.crop_pct)
    # Frozen: the images are only needed (downscaled) when the feature cache misses, so a cache hit skips them.
    frozen = cfg.strategy == "frozen"
    train_imgs, val_imgs = (
        (data.train_images, data.val_images)
        if frozen
        else (_shrunk(data.train_images, keep), _shrunk(data.val_images, keep))
    )
    eval_tf = make_transform(bb.preprocess, None, cfg.image_size)
    train_tf = make_transform(bb.preprocess, cfg.augment, cfg.image_size)
    dev = device or get_device()
    bb.features.to(dev)
    head.to(dev)
    y_train = torch.tensor(data.train_labels, device=dev)
    y_val = torch.tensor(data.val_labels)
    _, val_baseline = majority_baseline(data.val_labels)  # drawn beside the validation accuracy in every epoch
    test_imgs = _shrunk(data.test_images, keep) if data.test_labels else None

    feat_t0 = time.perf_counter()
    cached: dict[str, torch.Tensor] | None = None
    thumbs: dict[str, np.ndarray] | None = None
    if cfg.strategy == "frozen":
        views = cfg.views if cfg.augment.enabled else 1
        splits = ("train", "val", "test") if test_imgs is not None else ("train", "val")
        key = feature_key(data.content_key(), bb, state_digest(bb.features), size, cfg, views, [THUMB, splits])
        n_feat = views * len(train_imgs) + len(val_imgs) + (len(test_imgs) if test_imgs is not None else 0)
        done, waited = [0], [0.0]

        def step(n: int) -> None:
            done[0] += n
            if on_phase is not None:
                on_phase("features", done[0], n_feat)

        def waiting() -> None:  # another job computes these features: report (and so notice a cancel) each second
            if on_phase is not None and time.monotonic() - waited[0] >= 1.0:
                waited[0] = time.monotonic()
                on_phase("features", 0, n_feat)

        def compute() -> dict[str, torch.Tensor]:
            torch.manual_seed(cfg.seed)
            if on_phase is not None:
                on_phase("features", 0, n_feat)
            tf = train_tf if cfg.augment.enabled else eval_tf
            parts = {"train": _shrunk(train_imgs, keep), "val": _shrunk(val_imgs, keep)}
            if test_imgs is not None:
                parts["test"] = test_imgs
            return frozen_features(bb.features, parts, tf, eval_tf, views, size, on_batch=step)

        if cache_dir is not None and backbone is None:
            cached, _ = FeatureCache(cache_dir, cache_mb * 1e6).get_or_compute(key, compute, waiting)
        else:
            cached = compute()
        thumbs = {k[: -len("_thumbs")]: cached.pop(k).numpy() for k in list(cached) if k.endswith("_thumbs")}
        cached = {k: v.to(dev) for k, v in cached.items()}
    feature_seconds = time.perf_counter() - feat_t0
    torch.manual_seed(cfg.seed + 1)  # same training randomness whether the features came from the cache or not

    groups = [{"params": head.parameters(), "lr": cfg.lr}]
    if backbone_params:
        factor = cfg.backbone_lr_factor if cfg.strategy == "full" else max(cfg.backbone_lr_factor, 0.1)
        groups.append({"params": backbone_params, "lr": cfg.lr * factor})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    run: dict[str, Any] = {"best": (math.inf, 0, None), "stale": 0}

    def trainable_state() -> dict[str, Any]:
        s = {"head": copy.deepcopy(head.state_dict())}
        if backbone_params:
            s["backbone"] = copy.deepcopy(bb.features.state_dict())
        return s

    def restore(state: dict[str, Any]) -> None:
        head.load_state_dict(state["head"])
        if backbone_params and "backbone" in state:
            bb.features.load_state_dict(state["backbone"])
        opt.load_state_dict(state["optimizer"])
        history[:] = [dict(h) for h in state["history"]]
        run["best"] = (float(state["best_loss"]), int(state["best_epoch"]), state.get("best"))
        run["stale"] = int(state["stale"])

    def run_epoch(epoch: int) -> dict[str, float]:
        head.train()
        _train_mode(bb, cfg)
        correct = [0]

        def loss_of(idx: torch.Tensor) -> torch.Tensor:
            if cached is not None:
                view = int(torch.randint(cached["train"].shape[0], (1,), generator=gen))
                logits = head(cached["train"][view, idx])
            else:
                x = _batch([train_imgs[j] for j in idx.tolist()], train_tf).to(dev)
                logits = head(bb.features(x).flatten(1))
            correct[0] += int((logits.argmax(1) == y_train[idx]).sum())
            return F.cross_entropy(logits, y_train[idx], label_smoothing=cfg.label_smoothing)

        train_loss = training.train_epoch(n, cfg.batch_size, gen, opt, loss_of)
        probs = _val_probs(bb, head, cached, val_imgs, eval_tf)
        val_loss = float(F.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-12)), y_val))
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": correct[0] / n,
            "val_loss": val_loss,
            "val_accuracy": float((probs.argmax(1) == y_val.numpy()).mean()),
            "baseline_val_accuracy": val_baseline,
        }
        history.append(row)
        if val_loss < run["best"][0] - 1e-6:
            run["best"], run["stale"] = (val_loss, epoch, trainable_state()), 0
        else:
            run["stale"] += 1
        return row

    def state() -> dict[str, Any]:
        best = run["best"]
        return {
            **trainable_state(),
            "optimizer": opt.state_dict(),
            "history": [dict(h) for h in history],
            "best_loss": best[0],
            "best_epoch": best[1],
            "best": best[2],
            "stale": run["stale"],
        }

    n = len(train_imgs)
    training.fit(
        cfg.epochs,
        run_epoch,
        generator=gen,
        state=state,
        restore=restore,
        resume_from=resume_from,
        checkpoint=checkpoint,
        progress=on_epoch,
        stop=lambda epoch, row: cfg.patience > 0 and run["stale"] >= cfg.patience,
        on_start=None if on_phase is None else lambda done: on_phase("epochs", done, cfg.epochs),
    )
    best = run["best"]

    for p in bb.features.parameters():
        p.requires_grad_(False)
    final_test = None
    if test_imgs is not None:
        final_test = _accuracy(_split_probs(bb, head, cached, "test", test_imgs, eval_tf), data.test_labels)
    if best[2] is not None:
        head.load_state_dict(best[2]["head"])
        if "backbone" in best[2]:
            bb.features.load_state_dict(best[2]["backbone"])
    head.eval()
    probs = _val_probs(bb, head, cached, val_imgs, eval_tf)
    evaluation = evaluate(probs, data.val_labels, data.class_names)
    test_probs = _split_probs(bb, head, cached, "test", test_imgs, eval_tf) if test_imgs is not None else None
    model = FineTuned(bb, head, list(data.class_names), cfg)
    return TrainResult(
        model,
        history,
        evaluation,
        probs,
        best[1],
        time.perf_counter() - t0,
        feature_seconds,
        test_probs=test_probs,
        final_test_accuracy=final_test,
        thumbnails=thumbs,
    )


def _accuracy(probs: np.ndarray, labels: Sequence[int]) -> float:
    return float((probs.argmax(1) == np.asarray(labels)).mean()) if len(labels) else 0.0


@torch.no_grad()
def _split_probs(bb: Backbone, head: nn.Module, cached, part: str, imgs, tf) -> np.ndarray:
    """Class probabilities of one split: from the cached features (frozen) or through the backbone."""
    head.eval()
    feats = cached[part] if cached is not None and part in cached else extract_features(bb.features, imgs, tf)
    return F.softmax(head(feats.to(_device_of(head))), dim=1).cpu().numpy()


@torch.no_grad()
def _val_probs(bb: Backbone, head: nn.Module, cached, val_imgs, tf) -> np.ndarray:
    head.eval()
    feats = cached["val"] if cached is not None else extract_features(bb.features, val_imgs, tf)
    return F.softmax(head(feats.to(_device_of(head))), dim=1).cpu().numpy()
