"""The one fine-tuning routine, train(), and its results and honest accuracy report."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnn_demo import training
from cnn_demo.device import get_device
from cnn_demo.errors import InputError
from cnn_demo.finetune.backbone import Backbone, load_backbone
from cnn_demo.finetune.config import TrainConfig, build_head
from cnn_demo.finetune.data import THUMB, ImageData, downscaled, keep_for
from cnn_demo.finetune.epochs import Epochs, TrainingRun, split_probs
from cnn_demo.finetune.features import FeatureCache, feature_key, frozen_features, state_digest
from cnn_demo.finetune.model import FineTuned, evaluate
from cnn_demo.finetune.transforms import make_transform


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
    run = _prepare(data, cfg, backbone, device)
    feat_t0 = time.perf_counter()
    cached: dict[str, torch.Tensor] | None = None
    thumbs: dict[str, np.ndarray] | None = None
    if cfg.strategy == "frozen":
        cache = FeatureCache(cache_dir, cache_mb * 1e6) if cache_dir is not None and backbone is None else None
        cached, thumbs = _frozen_features(data, run, cache, on_phase)
    feature_seconds = time.perf_counter() - feat_t0
    torch.manual_seed(cfg.seed + 1)  # same training randomness whether the features came from the cache or not
    _, val_baseline = majority_baseline(data.val_labels)
    epochs = Epochs(run, data.train_labels, data.val_labels, val_baseline, cached)
    training.fit(
        cfg.epochs,
        epochs.run_epoch,
        generator=epochs.gen,
        state=epochs.state,
        restore=epochs.restore,
        resume_from=resume_from,
        checkpoint=checkpoint,
        progress=on_epoch,
        stop=epochs.stop,
        on_start=None if on_phase is None else lambda done: on_phase("epochs", done, cfg.epochs),
    )
    return _final_result(run, data, epochs, cached, started=t0, feature_seconds=feature_seconds, thumbnails=thumbs)


def _prepare(data: ImageData, cfg: TrainConfig, backbone: Backbone | None, device: torch.device | None) -> TrainingRun:
    """The backbone (given, or loaded) with a new head, seeded, its trainable part chosen, on its device."""
    torch.manual_seed(cfg.seed)
    bb = backbone or load_backbone(cfg.backbone, cfg.pretrained)
    head = build_head(bb.num_features, len(data.class_names), cfg.head)
    backbone_params = _set_trainable(bb, cfg)
    size = cfg.image_size or bb.preprocess.input_size[-1]
    keep = keep_for(size, bb.preprocess.crop_pct)
    # Frozen: the images are only needed (downscaled) when the feature cache misses, so a cache hit skips them.
    frozen = cfg.strategy == "frozen"
    train_imgs, val_imgs = (
        (data.train_images, data.val_images)
        if frozen
        else (downscaled(data.train_images, keep), downscaled(data.val_images, keep))
    )
    eval_tf = make_transform(bb.preprocess, None, cfg.image_size)
    train_tf = make_transform(bb.preprocess, cfg.augment, cfg.image_size)
    dev = device or get_device()
    bb.features.to(dev)
    head.to(dev)
    test_imgs = downscaled(data.test_images, keep) if data.test_labels else None
    return TrainingRun(
        cfg, bb, head, backbone_params, size, keep, train_imgs, val_imgs, test_imgs, train_tf, eval_tf, dev
    )


class _FeatureProgress:
    """The features phase as ``on_phase`` hears it: images done of all, and while another job computes the same
    features a report each second (so a waiting job notices a cancel)."""

    def __init__(self, on_phase: Callable[[str, int, int], None] | None, total: int) -> None:
        self.on_phase, self.total, self.done, self.waited = on_phase, total, 0, 0.0

    def start(self) -> None:
        """The phase begins: nothing done yet."""
        if self.on_phase is not None:
            self.on_phase("features", 0, self.total)

    def step(self, n: int) -> None:
        """``n`` more images done."""
        self.done += n
        if self.on_phase is not None:
            self.on_phase("features", self.done, self.total)

    def waiting(self) -> None:
        """Another job computes these features: report (and so notice a cancel) each second."""
        if self.on_phase is not None and time.monotonic() - self.waited >= 1.0:
            self.waited = time.monotonic()
            self.on_phase("features", 0, self.total)


def _frozen_features(
    data: ImageData, run: TrainingRun, cache: FeatureCache | None, on_phase: Callable[[str, int, int], None] | None
) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """The frozen backbone's features of every split (on the run's device) and the thumbnails made beside them:
    from ``cache`` when someone computed them before, else computed (and kept there)."""
    cfg = run.cfg
    views = cfg.views if cfg.augment.enabled else 1
    splits = ("train", "val", "test") if run.test_imgs is not None else ("train", "val")
    key = feature_key(data.content_key(), run.bb, state_digest(run.bb.features), run.size, cfg, views, [THUMB, splits])
    n_test = len(run.test_imgs) if run.test_imgs is not None else 0
    progress = _FeatureProgress(on_phase, views * len(run.train_imgs) + len(run.val_imgs) + n_test)
    compute = functools.partial(_compute_features, run, views, progress)
    if cache is not None:
        cached, _ = cache.get_or_compute(key, compute, progress.waiting)
    else:
        cached = compute()
    thumbs = {k[: -len("_thumbs")]: cached.pop(k).numpy() for k in list(cached) if k.endswith("_thumbs")}
    return {k: v.to(run.dev) for k, v in cached.items()}, thumbs


def _compute_features(run: TrainingRun, views: int, progress: _FeatureProgress) -> dict[str, torch.Tensor]:
    """The features of the images (downscaled first) through the frozen backbone, seeded: ``views`` augmented
    passes over the training images when augmentation is on."""
    torch.manual_seed(run.cfg.seed)
    progress.start()
    tf = run.train_tf if run.cfg.augment.enabled else run.eval_tf
    parts = {"train": downscaled(run.train_imgs, run.keep), "val": downscaled(run.val_imgs, run.keep)}
    if run.test_imgs is not None:
        parts["test"] = run.test_imgs
    return frozen_features(run.bb.features, parts, tf, run.eval_tf, views, run.size, on_batch=progress.step)


def _final_result(
    run: TrainingRun,
    data: ImageData,
    epochs: Epochs,
    cached: dict[str, torch.Tensor] | None,
    *,
    started: float,
    feature_seconds: float,
    thumbnails: dict[str, np.ndarray] | None,
) -> TrainResult:
    """The model of the best epoch, evaluated on the validation images, and on the test images both the final
    epoch's accuracy and the kept model's probabilities (the test images are looked at only now)."""
    bb, head, best = run.bb, run.head, epochs.best
    for p in bb.features.parameters():
        p.requires_grad_(False)
    final_test = None
    if run.test_imgs is not None:
        final_test = _accuracy(split_probs(bb, head, cached, "test", run.test_imgs, run.eval_tf), data.test_labels)
    if best[2] is not None:
        head.load_state_dict(best[2]["head"])
        if "backbone" in best[2]:
            bb.features.load_state_dict(best[2]["backbone"])
    head.eval()
    probs = split_probs(bb, head, cached, "val", run.val_imgs, run.eval_tf)
    evaluation = evaluate(probs, data.val_labels, data.class_names)
    test_probs = (
        split_probs(bb, head, cached, "test", run.test_imgs, run.eval_tf) if run.test_imgs is not None else None
    )
    model = FineTuned(bb, head, list(data.class_names), run.cfg)
    return TrainResult(
        model,
        epochs.history,
        evaluation,
        probs,
        best[1],
        time.perf_counter() - started,
        feature_seconds,
        test_probs=test_probs,
        final_test_accuracy=final_test,
        thumbnails=thumbnails,
    )


def _accuracy(probs: np.ndarray, labels: Sequence[int]) -> float:
    return float((probs.argmax(1) == np.asarray(labels)).mean()) if len(labels) else 0.0
