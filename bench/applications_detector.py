"""Benchmark of the detector lesson (not a test): person AP50 on COCO val2017 against CPU-minutes of training.

    .venv/bin/python bench/applications_detector.py [--epochs 20 40] [--backbone mobilenet_v2] [--size 416]

Each run trains the page's recipe (``DetectorConfig()`` defaults: the people sample, 20 % of it held out for the
job's own AP50 curve, features cached once) for the given number of epochs, with 1 torch thread, and counts the
CPU seconds of everything the job does (reading the photos, building the model, caching features, the epochs and
the held-out AP50 after each). After each epoch it also measures person AP50 on the 128 val2017 photos
(``../shared/data/coco_sample/val2017``, never trained on; that measurement is not counted). At the end it times
``PersonDetector.detect`` end to end on every val photo (median and slowest). The floors: AP50 ≥ 0.10 after 4
CPU-minutes, ≥ 0.13 after 7; ≤ 0.2 s per photo.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cnn_demo.applications.metrics import coco_map  # noqa: E402
from cnn_demo.applications.person_detector import (  # noqa: E402
    DetectorConfig,
    Trainer,
    cache_features,
    detections,
)
from cnn_demo.data.boxes import BoxDataset, BoxReport, load_people_sample  # noqa: E402
from cnn_demo.io.images import load_image  # noqa: E402

VAL = ROOT.parent / "shared" / "data" / "coco_sample" / "val2017"
VAL_JSON = VAL / "instances_val2017_boxes_from_yolo.json"
PERSON = 1


def val_set() -> tuple[BoxDataset, dict]:
    """The val2017 photos (as read by the app) and their person ground truth as COCO JSON (ids as in the file)."""
    gt = json.loads(VAL_JSON.read_text())
    images = [np.asarray(load_image((VAL / "images" / e["file_name"]).read_bytes())) for e in gt["images"]]
    empty = np.zeros((0, 4), np.float32)
    report = BoxReport("val2017", "COCO JSON", len(images), 0, 0, 0)
    ds = BoxDataset(tuple(images), tuple(empty for _ in images), tuple(e["file_name"] for e in gt["images"]), report)
    truth = {
        "images": gt["images"],
        "annotations": [a for a in gt["annotations"] if a["category_id"] == PERSON],
        "categories": [c for c in gt["categories"] if c["id"] == PERSON],
    }
    return ds, truth


def val_ap(trainer: Trainer, cache, ds: BoxDataset, truth: dict) -> dict[str, float]:
    """Person AP50 and AP on val2017 with pycocotools."""
    results = []
    for entry, (boxes, scores) in zip(truth["images"], detections(trainer.model, cache), strict=True):
        for (x0, y0, x1, y1), s in zip(boxes, scores, strict=True):
            results.append(
                {
                    "image_id": entry["id"],
                    "category_id": PERSON,
                    "score": float(s),
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                }
            )
    stats = coco_map(truth, results)
    return {"AP50": stats["AP50"], "AP": stats["AP"]}


def run(config: DetectorConfig, val: BoxDataset, truth: dict) -> dict:
    """Train ``config`` from scratch; print and return the val2017 AP50 after each epoch against CPU-minutes."""
    cpu0 = time.process_time()
    data = load_people_sample()
    trainer = Trainer(data, config)
    cpu = time.process_time() - cpu0
    # Measuring on val2017 is not part of the job: its CPU time is left out.
    val_cache = cache_features(trainer.model, val)
    rows = []
    print(
        f"  {config.epochs} epochs: cache {trainer.cache_seconds:.1f} s, {len(trainer.train_idx)} train / "
        f"{len(trainer.val_idx)} held-out photos",
        flush=True,
    )
    for epoch in range(1, config.epochs + 1):
        t = time.process_time()
        m = trainer.run_epoch(epoch)
        cpu += time.process_time() - t
        ap = val_ap(trainer, val_cache, val, truth)
        rows.append({"epoch": epoch, "cpu_min": cpu / 60, **ap, "heldout_ap50": m["ap50"], "loss": m["loss"]})
        print(
            f"  epoch {epoch:2d}  {cpu / 60:5.2f} CPU-min  val2017 AP50 {ap['AP50']:.3f} AP {ap['AP']:.3f}  "
            f"held-out AP50 {m['ap50']:.3f}  loss {m['loss']:.3f}",
            flush=True,
        )
    return {"config": config, "rows": rows, "trainer": trainer}


def latency(trainer: Trainer, val: BoxDataset) -> tuple[float, float]:
    """Median and slowest seconds of ``detect`` on each val2017 photo (preparing, backbone, heads, NMS)."""
    model = trainer.model.eval()
    model.detect(val.images[0])
    times = []
    for image in val.images:
        t = time.perf_counter()
        model.detect(image)
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--epochs", type=int, nargs="+", default=None, help="one run per number (default: 20, the page's, and 40)"
    )
    ap.add_argument("--backbone", default=DetectorConfig.backbone)
    ap.add_argument("--size", type=int, default=DetectorConfig.size)
    ap.add_argument("--lr", type=float, default=DetectorConfig.lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="other DetectorConfig fields")
    args = ap.parse_args(argv)
    extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    torch.set_num_threads(1)
    if not VAL_JSON.is_file():
        print(f"  {VAL_JSON} is missing: nothing to measure.")
        return
    val, truth = val_set()
    print(
        f"  val2017: {len(val)} photos, {len(truth['annotations'])} person boxes; torch threads "
        f"{torch.get_num_threads()}",
        flush=True,
    )
    last = None
    for epochs in args.epochs or [DetectorConfig.epochs, 40]:
        config = DetectorConfig(
            backbone=args.backbone, size=args.size, epochs=epochs, lr=args.lr, seed=args.seed, **extra
        )
        print(f"  {config}", flush=True)
        last = run(config, val, truth)
        end = last["rows"][-1]
        print(
            f"  => {epochs} epochs: val2017 person AP50 {end['AP50']:.3f} after {end['cpu_min']:.2f} CPU-minutes",
            flush=True,
        )
    if last is not None:
        median, worst = latency(last["trainer"], val)
        print(f"  detect() per val2017 photo: median {median:.3f} s, slowest {worst:.3f} s (1 thread)")


if __name__ == "__main__":
    main(sys.argv[1:])
