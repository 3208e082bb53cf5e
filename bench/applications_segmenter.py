"""Person segmenter against its floors, with 1 torch thread (part ``segmenter`` of bench/applications.py).

    .venv/bin/python bench/applications_segmenter.py [--epochs 5,10,20] [--limit N]

Trains what the page trains (``SegmenterConfig()``, the people sample that ships: 128 COCO train2017 photos) with
the feature cache empty, then scores it on the 100 COCO val2017 masks (``voc21_masks``, class 15 = person, 255
ignored; never trained on) as ``evaluate-segmentation`` does. ``--epochs`` also trains heads for other epoch counts
on the same cached features: person IoU against training time. Floors: person IoU ≥ 0.45 after ≤ 1 CPU-minute of
training, features cached in ≤ 90 s, ≤ 0.2 s per photo.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
VAL = ROOT.parent / "shared" / "data" / "coco_sample" / "val2017"

FLOORS = {
    "person IoU": (0.45, ">="),
    "training CPU s": (60.0, "<="),
    "features s": (90.0, "<="),
    "s per photo (median)": (0.2, "<="),
}


def main(argv: list[str] | None = None) -> dict:
    import torch

    from cnn_demo.applications import person_segmenter as ps

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="", help="also train heads for these epoch counts, e.g. 5,10")
    parser.add_argument("--limit", type=int, default=0, help="score on the first N val masks only (0 = all 100)")
    args = parser.parse_args(argv or [])
    torch.set_num_threads(1)
    if not (VAL / "voc21_masks").is_dir():
        print(f"needs {VAL} (the shared data folder beside the repo)")
        return {}
    cfg = ps.SegmenterConfig()
    t0 = time.perf_counter()
    data = ps.load_people()
    read_s = time.perf_counter() - t0
    backbone = ps.model.load_backbone()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        counts = sorted({cfg.epochs, *(int(e) for e in args.epochs.split(",") if e.strip())})
        for epochs in counts:
            run_cfg = dataclasses.replace(cfg, epochs=epochs)
            result = ps.train_segmenter(data, run_cfg, cache_dir=Path(cache), backbone=backbone)
            report = ps.evaluate_folder(result.model, VAL / "images", VAL / "voc21_masks", limit=args.limit)
            row = {
                "epochs": epochs,
                "features s": round(result.feature_seconds, 1),
                "features from cache": result.from_cache,
                "training s": round(result.train_seconds, 1),
                "training CPU s": round(result.extra["train_cpu_seconds"], 1),
                "person IoU": round(report["iou"]["person"], 3),
                "background IoU": round(report["iou"]["background"], 3),
                "mean IoU": round(report["mean_iou"], 3),
                "all person IoU": round(report["baselines"]["all person"]["iou"]["person"], 3),
                "all background mean IoU": round(report["baselines"]["all background"]["mean_iou"], 3),
                "held-out train photos person IoU": round(result.validation["iou"]["person"], 3),
                "s per photo (median)": round(report["seconds_per_image"], 3),
                "val images": report["images"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    default = next(r for r in rows if r["epochs"] == cfg.epochs)
    default = {**default, "features s": rows[0]["features s"]}  # the first run computed them, the others read them
    print(f"photos read and decoded in {read_s:.1f} s; settings: {json.dumps(cfg.to_dict())}")
    print(f"{'figure':24s} {'measured':>9s}  floor")
    for name, (floor, op) in FLOORS.items():
        value = default[name]
        ok = value >= floor if op == ">=" else value <= floor
        print(f"{name:24s} {value:9.3f}  {op} {floor}  {'ok' if ok else 'MISSED'}")
    return {"rows": rows, "default": default, "read_s": read_s}


if __name__ == "__main__":
    main(sys.argv[1:])
