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
from pathlib import Path

import numpy as np
import torch

from cnn_demo import jobs, training
from cnn_demo.applications.person_detector.model import BACKBONES, DetectorConfig, save
from cnn_demo.applications.person_detector.train import Trainer
from cnn_demo.data.boxes import BoxDataset, load_people_sample, read_box_zip
from cnn_demo.errors import InputError

DATA_SOURCES = ("people", "upload")
UPLOAD_NAME = "labels.zip"
#: Proposals and detections kept per epoch for the preview photo.
PREVIEW_PROPOSALS = 50


def load_data(params: dict, inputs: Path | None) -> BoxDataset:
    """The photos a job trains on: ``params["data"]`` is ``people`` (the shipped sample) or ``upload``."""
    source = params.get("data", "people")
    if source == "people":
        return load_people_sample()
    if source == "upload":
        path = None if inputs is None else inputs / UPLOAD_NAME
        if path is None or not path.is_file():
            raise InputError("The uploaded zip of labelled photos is missing.")
        return read_box_zip(path.read_bytes(), params.get("name", UPLOAD_NAME))
    raise InputError(f"Unknown training data {source!r}: use {' or '.join(DATA_SOURCES)}.")


def config_from_params(params: dict) -> DetectorConfig:
    """The :class:`DetectorConfig` of a job's parameters (anything left out keeps the defaults)."""
    fields = {f.name for f in dataclasses.fields(DetectorConfig)}
    allowed = {"epochs", "backbone", "size", "seed", "holdout", "lr", "batch_size", "flip", "trainable_stages"}
    given = {k: v for k, v in params.items() if k in allowed & fields}
    if given.get("backbone", BACKBONES[0]) not in BACKBONES:
        raise InputError(f"Choose a backbone among {', '.join(BACKBONES)}.")
    return DetectorConfig(**given)


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


@jobs.register("detector_train")
def train_detector(params: dict, ctx) -> dict:
    """Job: train the person detector's heads on cached features; per epoch losses, held-out AP50, proposals.

    ``params``: data (people | upload), epochs, backbone, size, seed, holdout (see :class:`DetectorConfig`).
    """
    config = config_from_params(params)
    folder = Path(ctx.folder)
    data = load_data(params, getattr(ctx, "inputs", None))
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
    info = {
        "ap50_heldout": last.get("ap50"),
        "ap_heldout": last.get("ap"),
        "epochs": config.epochs,
        "photos": len(data),
        "train_photos": len(trainer.train_idx),
        "heldout_photos": len(trainer.val_idx),
        "data": params.get("data", "people"),
        "format": data.report.format,
    }
    save(trainer.model, folder / "model", info)
    return {"ap50": last.get("ap50", 0.0), "ap": last.get("ap", 0.0), **info}


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
