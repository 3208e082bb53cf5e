"""``train-detector``: the person detector lesson's training, as the page's job runs it, from the command line.

``evaluate-detection --model DIR`` (in :mod:`cnn_demo.cli`) evaluates a folder this command wrote, through
:func:`detect_with_model`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``train-detector``."""
    p = sub.add_parser(
        "train-detector",
        help="train the person detector lesson (Faster R-CNN heads on cached ImageNet features)",
        description="Train a person detector as the 'Train a person detector' page does: on the people sample "
        "that ships with the app, or on a zip of labelled photos (COCO JSON, YOLO txt + classes.txt, or Pascal "
        "VOC xml). Writes the model (detector.json + heads.safetensors) and metrics.json into --out; prints a "
        "JSON summary. A weak detector trained on few photos: a lesson, not a detector to rely on.",
    )
    p.add_argument("--out", required=True, help="folder for the trained detector and metrics.json")
    p.add_argument("--data", default=None, help="a .zip (or folder) of labelled photos (default: the people sample)")
    p.add_argument("--epochs", type=int, default=None, help="default: the page's")
    p.add_argument("--backbone", default=None, help="mobilenet_v2 (default) or tf_efficientnet_lite0")
    p.add_argument("--size", type=int, default=None, help="longer side of the network's input (default 416)")
    p.add_argument("--holdout", type=float, default=None, help="share of photos held out for AP50 (default 0.2)")
    p.add_argument("--seed", type=int, default=None, help="default: 0")
    p.set_defaults(func=_cmd_train_detector)


def _cmd_train_detector(args: argparse.Namespace) -> int:
    """Train, save the detector into ``--out``, print one JSON line of results."""
    from cnn_demo import training
    from cnn_demo.applications import person_detector as pd
    from cnn_demo.data import boxes

    t0 = time.perf_counter()
    params = {
        k: v for k, v in vars(args).items() if v is not None and k in ("epochs", "backbone", "size", "seed", "holdout")
    }
    config = pd.config_from_params(params)
    data = boxes.load_boxes(args.data) if args.data else boxes.load_people_sample()
    report = data.report
    print(
        f"{report.source}: {report.n_images} photos, {report.n_boxes} {data.class_name} boxes ({report.format}); "
        f"{len(report.problems)} item(s) left out",
        file=sys.stderr,
    )
    for problem in report.problems[:10]:
        print(f"  left out {problem.path}: {problem.reason} {problem.detail}", file=sys.stderr)
    data.require_trainable()
    trainer = pd.Trainer(data, config)
    history: list[dict] = [{"epoch": 0, **trainer.evaluate()}]

    def progress(epoch: int, total: int, metrics: dict) -> None:
        history.append(metrics)
        print(
            f"epoch {epoch}/{total}: loss {metrics['loss']:.3f}, held-out AP50 {metrics['ap50']:.3f}",
            file=sys.stderr,
            flush=True,
        )

    training.fit(config.epochs, trainer.run_epoch, generator=trainer.generator, state=trainer.state, progress=progress)
    last = history[-1]
    summary = {
        "ap50": round(last["ap50"], 4),
        "ap": round(last["ap"], 4),
        "ap50_start": round(history[0]["ap50"], 4),
        "epochs": config.epochs,
        "photos": len(data),
        "train_photos": len(trainer.train_idx),
        "heldout_photos": len(trainer.val_idx),
        "format": report.format,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    out = Path(args.out)
    pd.save(trainer.model, out, summary)
    (out / "metrics.json").write_text(json.dumps({**summary, "config": config.to_json(), "history": history}))
    print(json.dumps(summary))
    return 0


def detect_with_model(folder: str | Path):
    """A function ``image -> (label ids, scores, boxes)`` of the detector saved in ``folder`` (person = COCO id 1)."""
    from cnn_demo.applications import person_detector as pd

    model, _ = pd.load(folder)

    def run(image, score_threshold: float):
        import numpy as np

        boxes, scores = model.detect(np.asarray(image), score_threshold)
        return [1] * len(scores), scores, boxes

    return run


def evaluation_model(name: str, random_weights: bool, ground_truth: dict):
    """What ``evaluate-detection --model NAME`` runs: ``(run, title, documented mAP or None, ground truth)``.

    ``NAME`` is a folder written by ``train-detector`` (then only the ground truth's person boxes are scored, the
    one class it learnt) or a torchvision detector name. ``run(image, score_threshold)`` gives (COCO category ids,
    scores, boxes x0 y0 x1 y1).
    """
    from cnn_demo.applications import person_detector as pd
    from cnn_demo.errors import InputError

    if pd.is_detector_folder(name):
        if random_weights:
            raise InputError("--random-weights applies to torchvision detectors, not to a trained detector folder.")
        person = [c for c in ground_truth.get("categories", []) if str(c.get("name", "")).lower() == "person"]
        if not person:
            raise InputError("The annotation file has no 'person' category to score a person detector on.")
        pid = person[0]["id"]
        truth = {
            **ground_truth,
            "categories": person,
            "annotations": [a for a in ground_truth.get("annotations", []) if a.get("category_id") == pid],
        }
        detect = detect_with_model(name)

        def run_person(image, score_threshold: float):
            ids, scores, boxes = detect(image, score_threshold)
            return [pid] * len(ids), scores, boxes

        return run_person, f"trained person detector {name} (person boxes only)", None, truth
    if Path(name).exists():
        raise InputError(f"{name} is not a folder written by train-detector (detector.json + heads.safetensors).")
    from cnn_demo.applications.detection import build_detector, detector_info
    from cnn_demo.applications.detection import detect as tv_detect

    info = detector_info(name)
    detector = build_detector(info.name, pretrained=not random_weights)  # once for every image

    def run_torchvision(image, score_threshold: float):
        dets = tv_detect(image, detector, score_threshold=score_threshold)
        return dets.label_ids, dets.scores, dets.boxes

    weights = "random weights (untrained)" if random_weights else "pretrained COCO weights"
    documented = info.coco_map / 100 if info.coco_map is not None else None
    return run_torchvision, f"{info.name} with {weights}", documented, ground_truth
