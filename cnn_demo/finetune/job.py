"""The ``finetune`` background job: train on a packed dataset, write the model and validation results."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn_demo import jobs
from cnn_demo.finetune.config import TrainConfig
from cnn_demo.finetune.data import keep_side, thumbnails, unpack_data
from cnn_demo.finetune.export import export_zip
from cnn_demo.finetune.trainer import accuracy_report, export_metrics, train


@jobs.register("finetune")
def finetune_job(params: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    """Job: train on ``inputs/data.zip`` with ``params['config']``; writes ``model.zip`` and ``val.npz``."""
    cfg = TrainConfig.from_dict(params["config"])
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
    summary = {
        **result.evaluation,
        **accuracy_report(result, data),
        "class_names": data.class_names,
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 3),
        "feature_seconds": round(result.feature_seconds, 3),
        "history": result.history,
        "config": cfg.to_dict(),
        "head_module": str(result.model.head),
    }
    (ctx.folder / "model.zip").write_bytes(
        export_zip(result.model, export_metrics(summary), onnx=bool(params.get("onnx")))
    )
    return summary
