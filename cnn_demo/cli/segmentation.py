"""Command line of the person segmenter: ``train-segmenter``, ``segment`` and ``evaluate-segmentation``.

python -m cnn_demo train-segmenter --out DIR [--data ZIP]
python -m cnn_demo segment --model DIR IMAGE... --out DIR
python -m cnn_demo evaluate-segmentation --model DIR --images DIR --masks DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_train(args: argparse.Namespace) -> int:
    """Train the person segmenter as the page does (same defaults) and save it to ``--out``; print its figures."""
    from cnn_demo.applications import person_segmenter as ps
    from cnn_demo.applications.person_segmenter.data import load_path
    from cnn_demo.settings import get_settings

    given = {"epochs": args.epochs, "image_size": args.image_size, "seed": args.seed, "flip": args.flip}
    cfg = ps.SegmenterConfig.from_dict({k: v for k, v in given.items() if v is not None})
    ps.model.load_backbone(cfg.backbone)  # fail fast when the installed weights are missing
    data = ps.load_people() if args.data is None else load_path(args.data)
    print(f"{len(data)} photos from {data.source}; classes {data.classes[0]} / {data.classes[1]}", file=sys.stderr)

    def phase(name: str, done: int, total: int) -> None:
        print(f"\rfeatures: {done}/{total} photos", end="\n" if done == total else "", file=sys.stderr, flush=True)

    def epoch(done: int, total: int, m: dict) -> None:
        print(f"epoch {done}/{total}: loss {m['loss']:.4f}, IoU {m['iou']:.3f}", file=sys.stderr, flush=True)

    cache = None if args.no_cache else get_settings().state_dir / "feature-cache"
    result = ps.train_segmenter(data, cfg, cache_dir=cache, on_phase=phase, on_epoch=epoch)
    summary = {**result.summary(), "config": cfg.to_dict()}
    ps.save_segmenter(args.out, result.model.head, cfg, result.model.classes, {**summary, "history": result.history})
    print(json.dumps(summary))
    return 0


def _cmd_segment(args: argparse.Namespace) -> int:
    """Segment images with a saved segmenter: a palette PNG mask per image (0 background, 1 person) in ``--out``."""
    from cnn_demo.applications import person_segmenter as ps
    from cnn_demo.applications.segmentation import mask_png
    from cnn_demo.errors import InputError
    from cnn_demo.io.images import load_image

    model = ps.load_segmenter(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{path} does not exist.")
        result = ps.segment(model, load_image(path.read_bytes()))
        stem, k = path.stem, 1
        while stem in used:  # two images of the same name from different folders
            k += 1
            stem = f"{path.stem}-{k}"
        used.add(stem)
        target = out / f"{stem}.png"
        target.write_bytes(mask_png(result.labels, colours=ps.model.PALETTE))
        share = {model.classes[1] + "_share": round(result.share, 6)}
        print(json.dumps({"image": str(path), "mask": str(target), **share, "seconds": round(result.seconds, 4)}))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    """Per-class IoU of a saved segmenter on images and their masks (255 ignored), with the baselines, as JSON."""
    from cnn_demo.applications import person_segmenter as ps

    model = ps.load_segmenter(args.model)
    report = ps.evaluate_folder(model, args.images, args.masks, person_class=args.person_class, limit=args.limit)
    print(json.dumps(report, indent=None if args.compact else 2))
    return 0


def add_commands(sub) -> None:
    """Add ``train-segmenter``, ``segment`` and ``evaluate-segmentation`` to the command line."""
    p = sub.add_parser(
        "train-segmenter", help="train the person segmenter (LR-ASPP head on frozen EfficientNet-Lite0 features)"
    )
    p.add_argument("--out", required=True, help="folder for the segmenter (head.safetensors, segmenter.json)")
    p.add_argument(
        "--data",
        default=None,
        help="a zip (or folder) with images/ and masks/ (0 background, 1 person or PASCAL VOC classes, 255 ignore); "
        "default: the people sample that ships with the app (128 COCO photos)",
    )
    p.add_argument("--epochs", type=int, default=None, help="default: 20")
    p.add_argument("--image-size", type=int, default=None, help="side of the square network input (default 384)")
    p.add_argument("--seed", type=int, default=None, help="default: 0")
    p.add_argument(
        "--flip",
        action="store_const",
        const=True,
        default=None,
        help="also learn from the mirrored photos (twice the feature time)",
    )
    p.add_argument("--no-cache", action="store_true", help="compute the features even when cached")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("segment", help="person masks of images with a trained segmenter (palette PNGs)")
    p.add_argument("--model", required=True, help="folder written by train-segmenter")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", required=True, help="folder for the masks (<image name>.png: 0 background, 1 person)")
    p.set_defaults(func=_cmd_segment)

    p = sub.add_parser("evaluate-segmentation", help="per-class IoU of a trained segmenter on images with masks")
    p.add_argument("--model", required=True, help="folder written by train-segmenter")
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--masks", required=True, help="folder of masks with the images' names (PNG, 255 = ignore)")
    p.add_argument(
        "--person-class",
        type=int,
        default=None,
        help="mask value of the person (default: 1 in 0/1 masks, 15 in PASCAL VOC masks)",
    )
    p.add_argument("--limit", type=int, default=0, help="only the first N masks (0 = all)")
    p.add_argument("--compact", action="store_true", help="print the JSON on one line")
    p.set_defaults(func=_cmd_evaluate)
