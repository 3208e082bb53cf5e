"""``python -m cnn_demo``: the command line. Each sub-command is a small function over the package."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app (and the job worker, when the job queue exists) until interrupted."""
    env = dict(os.environ)
    workers: list[subprocess.Popen] = []
    if args.worker and (ROOT / "cnn_demo" / "jobs.py").exists():
        workers.append(subprocess.Popen([sys.executable, "-m", "cnn_demo", "worker"], cwd=ROOT, env=env))
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(args.port)]
    if args.address:
        cmd += ["--server.address", args.address]
    try:
        return subprocess.call(cmd, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()


def _cmd_samples(args: argparse.Namespace) -> int:
    """List the bundled sample images."""
    from cnn_demo import samples

    available = set(samples.sample_names())
    for s in samples.SAMPLES:
        mark = " " if s.name in available else "!"
        print(f"{mark} {s.name:12s} {s.title:20s} {s.description}")
    return 0


def _cmd_evaluate_detection(args: argparse.Namespace) -> int:
    """Run a detector over a folder of images and print COCO box mAP against a COCO annotation file."""
    import json
    import time

    from cnn_demo.detection import detect, detector_info
    from cnn_demo.errors import InputError
    from cnn_demo.images import load_image
    from cnn_demo.metrics import coco_map

    info = detector_info(args.model)
    folder = Path(args.images)
    if not folder.is_dir():
        raise InputError(f"The image folder {folder} does not exist.")
    try:
        gt = json.loads(Path(args.annotations).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot read the annotation file {args.annotations}: {exc}") from exc
    images = gt.get("images", [])
    results: list[dict] = []
    used: list[int] = []
    start = time.perf_counter()
    for entry in images[: args.limit] if args.limit else images:
        path = next(
            (p for p in (folder / entry["file_name"], folder / "images" / entry["file_name"]) if p.is_file()), None
        )
        if path is None:
            continue
        img = load_image(path.read_bytes())
        dets = detect(img, info.name, score_threshold=args.score_threshold, pretrained=not args.random_weights)
        used.append(entry["id"])
        for cid, score, (x0, y0, x1, y1) in zip(dets.label_ids, dets.scores, dets.boxes, strict=True):
            results.append(
                {
                    "image_id": entry["id"],
                    "category_id": int(cid),
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "score": float(score),
                }
            )
        print(f"\r{len(used)} images, {len(results)} detections", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not used:
        raise InputError(f"None of the images listed in {args.annotations} is in {folder}.")
    stats = coco_map(gt, results, image_ids=used)
    weights = "random weights (untrained)" if args.random_weights else "pretrained COCO weights"
    print(f"{info.name} with {weights} on {len(used)} images ({time.perf_counter() - start:.1f} s)")
    for name, value in stats.items():
        print(f"{name:10s} {value:.3f}")
    if info.coco_map is not None:
        print(f"torchvision's documented box mAP on all of COCO val2017: {info.coco_map / 100:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="python -m cnn_demo", description="cnn-demo command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the web app and a job worker")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default=None, help="address to bind (default: Streamlit's)")
    p.add_argument("--no-worker", dest="worker", action="store_false", help="do not start a job worker")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("samples", help="list the bundled sample images")
    p.set_defaults(func=_cmd_samples)

    p = sub.add_parser("evaluate-detection", help="COCO box mAP of a detector on a folder of images")
    p.add_argument("--images", required=True, help="folder with the images (or with an images/ sub-folder)")
    p.add_argument("--annotations", required=True, help="COCO-format ground truth JSON")
    p.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_320_fpn", help="torchvision detector name")
    p.add_argument("--score-threshold", type=float, default=0.05, help="keep detections above this score")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N images (0 = all)")
    p.add_argument("--random-weights", action="store_true", help="use seeded random weights (pipeline check)")
    p.set_defaults(func=_cmd_evaluate_detection)

    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cnn_demo``."""
    from cnn_demo.errors import InputError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
