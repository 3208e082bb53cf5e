"""The ``finetune`` background job: train on a packed dataset, write the model and validation results."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.finetune.config import TrainConfig
from cnn_demo.finetune.data import keep_side, thumbnails, unpack_data
from cnn_demo.finetune.export import export_zip
from cnn_demo.finetune.trainer import accuracy_report, export_metrics, train


@dataclass(frozen=True)
class FinetuneParams:
    """What a ``finetune`` job trains (``inputs/data.zip``) and how: its :class:`TrainConfig`, whether to export
    ONNX too, and the dataset's name (shown in job lists)."""

    config: TrainConfig = field(default_factory=TrainConfig)
    onnx: bool = False
    dataset: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FinetuneParams:
        """The parameters of a job's params dict (``{"config": {...}, "onnx": ..., "dataset": ...}``)."""
        if not isinstance(params, Mapping) or "config" not in params:
            raise InputError("The training settings are missing.")
        return cls(TrainConfig.from_dict(params["config"]), bool(params.get("onnx")), str(params.get("dataset", "")))

    def to_dict(self) -> dict[str, Any]:
        """The params dict a page submits."""
        return {"config": self.config.to_dict(), "onnx": self.onnx, "dataset": self.dataset}


#: Figures a fine-tuning result has only when its run kept a held-out test split.
TEST_FIELDS = ("test_accuracy", "final_test_accuracy", "baseline_test_accuracy", "test_majority_class")


@dataclass(frozen=True)
class FinetuneResult:
    """What a finished ``finetune`` job reports: the kept (best) epoch's validation evaluation, the accuracies told
    apart (final and best epoch, held-out test split, majority-class baselines), timings, history and settings.

    :meth:`from_dict` reads results of jobs that finished before the honest figures existed: the final epoch is
    then the last, the best epoch's accuracy the kept model's."""

    val_accuracy: float = 0.0
    per_class_accuracy: dict[str, float] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    #: The most confident mistakes: ``{"index", "true", "pred", "confidence"}`` of validation images.
    mistakes: list[dict[str, Any]] = field(default_factory=list)
    final_epoch: int = 0
    final_val_accuracy: float | None = None
    best_val_accuracy: float = 0.0
    majority_class: str = ""
    baseline_val_accuracy: float | None = None
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    test_accuracy: float | None = None
    final_test_accuracy: float | None = None
    baseline_test_accuracy: float | None = None
    test_majority_class: str | None = None
    class_names: list[str] = field(default_factory=list)
    epochs: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    feature_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    head_module: str = ""

    @property
    def has_test(self) -> bool:
        """Whether the run kept a held-out test split (and so has test figures)."""
        return self.test_accuracy is not None

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON (``result.json``); the test figures only when there was a test split."""
        out = dataclasses.asdict(self)
        return {k: v for k, v in out.items() if k not in TEST_FIELDS or self.has_test}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinetuneResult:
        """The result stored as ``data``, older results' missing figures filled in as the page always did."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        history = values.get("history") or []
        values.setdefault("final_epoch", values.get("epochs", len(history)))
        values.setdefault("best_epoch", values["final_epoch"])
        values.setdefault("final_val_accuracy", history[-1]["val_accuracy"] if history else None)
        values.setdefault("best_val_accuracy", values.get("val_accuracy", 0.0))
        return cls(**values)


@jobs.register("finetune")
def finetune_job(params: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    """Job: train on ``inputs/data.zip`` with :class:`FinetuneParams`; writes ``model.zip`` and ``val.npz``, returns
    :class:`FinetuneResult` as a dict."""
    p = FinetuneParams.from_params(params)
    cfg = p.config
    # Images stay in the file until used; frozen features found in the server's cache need none of them decoded.
    if cfg.strategy == "frozen":
        data = unpack_data(ctx.inputs / "data.zip", max_side=keep_side(cfg), lazy=True)
    else:
        data = unpack_data(ctx.inputs / "data.zip", max_side=keep_side(cfg))
    ctx.log(
        f"{len(data.train_images)} training / {len(data.val_images)} validation / {len(data.test_images)} test "
        f"images, {cfg.strategy} {cfg.backbone}"
    )
    resume = ctx.load_checkpoint()
    if resume is not None:
        ctx.log(f"resuming after epoch {resume[1]}")
        ctx.progress(resume[1], cfg.epochs, phase="epochs")
    # A fresh job says "Starting…" while the backbone loads, then its first phase (features or epochs) takes over:
    # no "Epoch 0 of N · estimating…" before a single epoch can start.
    result = train(
        data,
        cfg,
        on_epoch=lambda e, n, m: ctx.progress(e, n, m, phase="epochs"),
        on_phase=lambda phase, done, total: ctx.progress(done, total, phase=phase),
        checkpoint=ctx.save_checkpoint,
        resume_from=resume,
        cache_dir=ctx.settings.state_dir / "feature-cache",
        cache_mb=ctx.settings.feature_cache_mb,
    )
    thumbs = result.thumbnails or {}
    np.savez_compressed(
        ctx.folder / "val.npz",
        thumbs=thumbs["val"] if "val" in thumbs else thumbnails(data.val_images),
        labels=np.asarray(data.val_labels),
        probs=result.val_probs,
    )
    if result.test_probs is not None:
        np.savez_compressed(
            ctx.folder / "test.npz",
            thumbs=thumbs["test"] if "test" in thumbs else thumbnails(data.test_images),
            labels=np.asarray(data.test_labels),
            probs=result.test_probs,
        )
    summary = FinetuneResult(
        **result.evaluation,
        **accuracy_report(result, data),
        class_names=data.class_names,
        epochs=len(result.history),
        best_epoch=result.best_epoch,
        seconds=round(result.seconds, 3),
        feature_seconds=round(result.feature_seconds, 3),
        history=result.history,
        config=cfg.to_dict(),
        head_module=str(result.model.head),
    ).to_dict()
    (ctx.folder / "model.zip").write_bytes(export_zip(result.model, export_metrics(summary), onnx=p.onnx))
    return summary
