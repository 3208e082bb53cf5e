"""The ``person_segmenter`` background job: train on the people sample or uploaded pairs, save the segmenter and
the validation photos' predictions after every epoch (small thumbnails the page shows)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cnn_demo import jobs
from cnn_demo.applications.job_records import JobResult
from cnn_demo.applications.person_segmenter.data import load_source, split
from cnn_demo.applications.person_segmenter.model import SegmenterConfig, save_segmenter
from cnn_demo.applications.person_segmenter.train import train_segmenter
from cnn_demo.errors import InputError

PREVIEW = 4
THUMB = 192
MODEL_DIR = "model"


@dataclass(frozen=True)
class SegmenterParams:
    """What a ``person_segmenter`` job trains on (``data``) and how (``config``: :class:`SegmenterConfig`)."""

    data: str = "people"
    config: SegmenterConfig = field(default_factory=SegmenterConfig)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SegmenterParams:
        """The parameters of a job's params dict (``{"data": ..., "config": {...}}``)."""
        if not isinstance(params, Mapping):
            raise InputError("The job's settings must be a mapping of names to values.")
        return cls(str(params.get("data", "people")), SegmenterConfig.from_dict(dict(params.get("config") or {})))

    def to_dict(self) -> dict[str, Any]:
        """The params dict a page submits."""
        return {"data": self.data, "config": self.config.to_dict()}


@dataclass(frozen=True)
class SegmenterResult(JobResult):
    """What a finished ``person_segmenter`` job reports: validation IoU beside the baselines', counts, timings,
    the per-epoch history and the settings (:meth:`~.train.TrainedSegmenter.summary` and more)."""

    classes: list[str] = field(default_factory=lambda: ["background", "person"])
    #: ``{"iou": {class: IoU}, "mean_iou": ...}`` on the validation photos at their own size, and the baselines'.
    validation: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_train: int = 0
    n_val: int = 0
    val_stems: list[str] = field(default_factory=list)
    epochs: int = 0
    feature_seconds: float = 0.0
    train_seconds: float = 0.0
    features_from_cache: bool = False
    head_parameters: int = 0
    data: str = ""
    mask_rule: str = ""
    train_cpu_seconds: float = 0.0
    batch_size: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def model_folder(job_folder: str | Path) -> Path:
    """Where a finished job keeps its segmenter (:func:`~.model.load_segmenter` reads it)."""
    return Path(job_folder) / MODEL_DIR


def _thumb_size(shape: tuple[int, ...]) -> tuple[int, int]:
    h, w = shape[:2]
    scale = THUMB / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _resize(arr: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr)).resize(size, method))


@jobs.register("person_segmenter")
def train_job(params: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    """Job: :class:`SegmenterParams` (``data`` ``people`` or ``upload``: ``inputs/pairs.zip``; ``config``), returns
    :class:`SegmenterResult` as a dict. Writes ``model/`` (the segmenter), ``preview.npz`` (validation thumbnails and
    their true masks) and ``preview_<epoch>.npz`` (the predicted masks after each epoch)."""
    p = SegmenterParams.from_params(params)
    cfg, source = p.config, p.data
    upload = ctx.inputs / "pairs.zip"
    data = load_source(source, upload.read_bytes() if source == "upload" and upload.is_file() else None)
    _, val_idx = split(len(data), cfg.val_fraction, cfg.seed)
    ctx.log(f"{len(data)} photos from {data.source}: {len(data) - len(val_idx)} to train, {len(val_idx)} to check")
    ctx.log(f"classes: {data.classes[0]} and {data.classes[1]} ({data.rule})")
    folder = Path(ctx.folder)
    # The validation photos with the most of the class to learn: an empty mask teaches little to look at.
    order = sorted(range(len(val_idx)), key=lambda k: -float((data.masks[val_idx[k]] == 1).mean()))
    positions = sorted(order[:PREVIEW])
    shown = [val_idx[k] for k in positions]
    sizes = [_thumb_size(data.images[i].shape) for i in shown]
    arrays: dict[str, Any] = {}
    for k, (i, size) in enumerate(zip(shown, sizes, strict=True)):
        arrays[f"image{k}"] = _resize(data.images[i], size, False)
        arrays[f"truth{k}"] = _resize(data.masks[i], size, True)
    np.savez_compressed(folder / "preview.npz", **arrays)

    def on_predictions(epoch: int, pred: np.ndarray) -> None:
        maps: dict[str, Any] = {
            f"pred{k}": _resize(pred[p], s, True) for k, (p, s) in enumerate(zip(positions, sizes, strict=True))
        }
        np.savez_compressed(folder / f"preview_{epoch}.npz", **maps)

    resume = ctx.load_checkpoint()
    if resume is not None:
        ctx.log(f"resuming after epoch {resume[1]}")
    result = train_segmenter(
        data,
        cfg,
        cache_dir=ctx.settings.state_dir / "feature-cache",
        on_phase=lambda phase, done, total: ctx.progress(done, total, phase=phase),
        on_epoch=lambda e, n, m: ctx.progress(e, n, m, phase="epochs"),
        on_predictions=on_predictions,
        checkpoint=ctx.save_checkpoint,
        resume_from=resume,
    )
    ctx.log(
        f"features {'from the cache' if result.from_cache else f'in {result.feature_seconds:.1f} s'}, "
        f"head trained in {result.train_seconds:.1f} s"
    )
    summary = SegmenterResult.from_dict({**result.summary(), "history": result.history, "config": cfg.to_dict()})
    save_segmenter(model_folder(folder), result.model.head, cfg, result.model.classes, summary.to_dict())
    return summary.to_dict()


def load_previews(job_folder: str | Path) -> dict[str, Any]:
    """What a job saved for the page: ``images`` and ``truth`` (lists of arrays) and ``pred`` ({epoch: list})."""
    folder = Path(job_folder)
    out: dict[str, Any] = {"images": [], "truth": [], "pred": {}}
    path = folder / "preview.npz"
    if not path.is_file():
        return out
    with np.load(path, allow_pickle=False) as z:
        n = sum(1 for k in z.files if k.startswith("image"))
        out["images"] = [z[f"image{k}"] for k in range(n)]
        out["truth"] = [z[f"truth{k}"] for k in range(n)]
    for p in folder.glob("preview_*.npz"):
        epoch = p.stem.rsplit("_", 1)[1]
        if epoch.isdigit():
            with np.load(p, allow_pickle=False) as z:
                out["pred"][int(epoch)] = [z[f"pred{k}"] for k in range(len(z.files))]
    return out
