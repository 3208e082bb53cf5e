"""The ``detector_train`` job: read the photos, cache features, train epoch by epoch, keep what the page shows.

Files written in the job's folder::

    preview.png, preview.json     the held-out photo the page draws proposals on, and its true boxes
    epoch_<n>.json                that photo's RPN proposals (best 50, objectness) and detections after epoch n
    model/                        the trained detector (detector.json + heads.safetensors), when the job ends
    report.json                   what was read from the data and what was left out

The metrics history holds one row per epoch (losses, AP50 and AP on the held-out photos) after an ``epoch`` 0 row:
the untrained heads' AP50, the start the curve climbs from.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnn_demo import jobs, training
from cnn_demo.applications.job_records import JobResult, typed_values
from cnn_demo.applications.person_detector.model import BACKBONES, DetectorConfig, save
from cnn_demo.applications.person_detector.train import Trainer
from cnn_demo.data.boxes import BoxDataset, load_people_sample, read_box_zip
from cnn_demo.errors import InputError

DATA_SOURCES = ("people", "upload")
UPLOAD_NAME = "labels.zip"
#: Proposals and detections kept per epoch for the preview photo.
PREVIEW_PROPOSALS = 50


#: The :class:`DetectorConfig` fields a job's params may set.
CONFIG_KEYS = ("epochs", "backbone", "size", "seed", "holdout", "lr", "batch_size", "flip", "trainable_stages")


def config_from_params(params: Mapping[str, Any]) -> DetectorConfig:
    """The :class:`DetectorConfig` of a job's parameters (anything left out keeps the defaults)."""
    given = typed_values(DetectorConfig, params, CONFIG_KEYS)
    if given.get("backbone", BACKBONES[0]) not in BACKBONES:
        raise InputError(f"Choose a backbone among {', '.join(BACKBONES)}.")
    return DetectorConfig(**given)


@dataclass(frozen=True)
class DetectorParams:
    """What a ``detector_train`` job trains on and how. Its params dict is flat: ``data`` (people | upload),
    ``name`` (the uploaded zip's name, for messages) and the :data:`CONFIG_KEYS` of :class:`DetectorConfig`."""

    data: str = "people"
    name: str = UPLOAD_NAME
    config: DetectorConfig = field(default_factory=DetectorConfig)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DetectorParams:
        """The parameters of a job's params dict; :class:`InputError` for a bad value."""
        config = config_from_params(params)
        data = str(params.get("data", "people"))
        if data not in DATA_SOURCES:
            raise InputError(f"Unknown training data {data!r}: use {' or '.join(DATA_SOURCES)}.")
        return cls(data, str(params.get("name") or UPLOAD_NAME), config)

    def to_dict(self) -> dict[str, Any]:
        """The flat params dict a page submits."""
        return {"data": self.data, "name": self.name, **{k: getattr(self.config, k) for k in CONFIG_KEYS}}


@dataclass(frozen=True)
class DetectorResult(JobResult):
    """What a finished ``detector_train`` job reports (also kept in its saved model's ``detector.json``)."""

    ap50: float = 0.0
    ap: float = 0.0
    ap50_heldout: float | None = None
    ap_heldout: float | None = None
    epochs: int = 0
    photos: int = 0
    train_photos: int = 0
    heldout_photos: int = 0
    data: str = "people"
    format: str = ""


def load_data(params: DetectorParams | Mapping[str, Any], inputs: Path | None) -> BoxDataset:
    """The photos a job trains on: ``params.data`` is ``people`` (the shipped sample) or ``upload``."""
    p = params if isinstance(params, DetectorParams) else DetectorParams.from_params(params)
    if p.data == "people":
        return load_people_sample()
    path = None if inputs is None else inputs / UPLOAD_NAME
    if path is None or not path.is_file():
        raise InputError("The uploaded zip of labelled photos is missing.")
    return read_box_zip(path.read_bytes(), p.name)


def report_json(data: BoxDataset) -> dict:
    """The data's report as JSON (problems included, at most 200 of them)."""
    doc = dataclasses.asdict(data.report)
    doc["problems"] = doc["problems"][:200]
    return doc


def _boxes(boxes: np.ndarray, scale: float = 1.0) -> list[list[float]]:
    return [[round(float(v) * scale, 1) for v in b] for b in np.asarray(boxes).reshape(-1, 4)]


def write_preview(trainer: Trainer, folder: Path, epoch: int) -> None:
    """``epoch_<epoch>.json``: the preview photo's proposals and detections (in that photo's pixels)."""
    if not len(trainer.val_idx):
        return
    i = trainer.preview_index()
    c = trainer.val_cache
    model = trainer.model
    was = model.training
    model.eval()
    boxes, objectness = model.proposals(c.features[i], c.sizes[i], PREVIEW_PROPOSALS)
    with torch.no_grad():
        dets, _ = model.heads(c.features[i : i + 1], c.sizes[i : i + 1])
    model.train(was)
    keep = dets[0]["scores"] >= 0.05
    doc = {
        "epoch": epoch,
        "proposals": _boxes(boxes, 1 / c.scales[i]),
        "objectness": [round(float(s), 4) for s in objectness],
        "boxes": _boxes(dets[0]["boxes"][keep].numpy(), 1 / c.scales[i]),
        "scores": [round(float(s), 4) for s in dets[0]["scores"][keep]],
    }
    (folder / f"epoch_{epoch}.json").write_text(json.dumps(doc))


def _save_preview_photo(trainer: Trainer, folder: Path) -> None:
    from PIL import Image

    if not len(trainer.val_idx):
        return
    i = trainer.preview_index()
    Image.fromarray(trainer.val_data.images[i]).save(folder / "preview.png")
    truth = {"name": trainer.val_data.names[i], "boxes": _boxes(trainer.val_data.boxes[i])}
    (folder / "preview.json").write_text(json.dumps(truth))


def _result(p: DetectorParams, data: BoxDataset, trainer: Trainer, last: dict) -> DetectorResult:
    """The finished job's figures: ``last`` (the final epoch's AP50 and AP on the held-out photos) and counts."""
    return DetectorResult(
        ap50=last.get("ap50", 0.0),
        ap=last.get("ap", 0.0),
        ap50_heldout=last.get("ap50"),
        ap_heldout=last.get("ap"),
        epochs=p.config.epochs,
        photos=len(data),
        train_photos=len(trainer.train_idx),
        heldout_photos=len(trainer.val_idx),
        data=p.data,
        format=data.report.format,
    )


@jobs.register("detector_train")
def train_detector(params: dict, ctx) -> dict:
    """Job: train the person detector's heads on cached features; per epoch losses, held-out AP50, proposals.

    ``params``: :class:`DetectorParams` (data, name and the :data:`CONFIG_KEYS` of :class:`DetectorConfig`);
    returns :class:`DetectorResult` as a dict.
    """
    p = DetectorParams.from_params(params)
    config = p.config
    folder = Path(ctx.folder)
    data = load_data(p, getattr(ctx, "inputs", None))
    (folder / "report.json").write_text(json.dumps(report_json(data), default=str))
    data.require_trainable()
    ctx.log(f"{data.report.n_images} photos, {data.report.n_boxes} {data.class_name} boxes ({data.report.format}).")
    trainer = Trainer(data, config, progress=lambda d, t: ctx.progress(d, t, phase="features"))
    ctx.log(
        f"Features of {len(trainer.cache)} training and {len(trainer.val_cache)} held-out photos cached in "
        f"{trainer.cache_seconds:.1f} s."
    )
    _save_preview_photo(trainer, folder)

    def start(done: int) -> None:
        if done == 0:  # the untrained heads: where the AP50 curve starts
            write_preview(trainer, folder, 0)
            ctx.progress(0, config.epochs, {"epoch": 0, **trainer.evaluate()}, phase="epochs")

    def run_epoch(epoch: int) -> dict:
        metrics = trainer.run_epoch(epoch)
        write_preview(trainer, folder, epoch)
        return metrics

    last: dict = {}

    def progress(done: int, total: int, metrics: dict) -> None:
        last.update(metrics)
        ctx.progress(done, total, metrics, phase="epochs")

    training.fit(
        config.epochs,
        run_epoch,
        generator=trainer.generator,
        state=trainer.state,
        restore=trainer.restore,
        resume_from=ctx.load_checkpoint(),
        checkpoint=ctx.save_checkpoint,
        progress=progress,
        on_start=start,
    )
    if not last:  # resumed after the last epoch: measure again
        last = trainer.evaluate()
    info = _result(p, data, trainer, last).to_dict()
    save(trainer.model, folder / "model", {k: v for k, v in info.items() if k not in ("ap50", "ap")})
    return info


def load_epochs(folder: str | Path) -> dict[int, dict]:
    """The preview files a job wrote so far: {epoch: proposals, objectness, boxes, scores} (unreadable ones left
    out: the job may be writing the newest)."""
    out: dict[int, dict] = {}
    for p in Path(folder).glob("epoch_*.json"):
        try:
            out[int(p.stem.split("_", 1)[1])] = json.loads(p.read_text())
        except (ValueError, OSError):
            continue
    return dict(sorted(out.items()))


def load_preview(folder: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The job's preview photo and its true boxes, or ``None`` before the job wrote them."""
    from PIL import Image

    f = Path(folder)
    try:
        truth = json.loads((f / "preview.json").read_text())
        with Image.open(f / "preview.png") as img:
            image = np.asarray(img.convert("RGB"))
    except (OSError, ValueError):
        return None
    return image, np.asarray(truth.get("boxes", []), dtype=np.float32).reshape(-1, 4)


def load_report(folder: str | Path) -> dict | None:
    """The data report a job wrote (``report.json``), or ``None``."""
    try:
        return json.loads((Path(folder) / "report.json").read_text())
    except (OSError, ValueError):
        return None
