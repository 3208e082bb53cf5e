"""``python -m cnn_demo rcnn IMAGE``: R-CNN and Fast R-CNN on the same selective-search proposals of one photo."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _cmd_rcnn(args: argparse.Namespace) -> int:
    """Print both methods' boxes, labels, scores and seconds (``--json``: one JSON object), and how they compare."""
    import numpy as np
    import torch

    from cnn_demo import models
    from cnn_demo.applications import rcnn
    from cnn_demo.errors import InputError
    from cnn_demo.io.images import load_image

    if args.threads:
        torch.set_num_threads(args.threads)
    path = Path(args.image)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read the image {path}: {exc.strerror or exc}") from exc
    image = np.asarray(load_image(data, max_side=args.max_side).convert("RGB"))
    clf = rcnn.split_classifier(models.create("tf_efficientnet_lite0"))
    cfg = rcnn.DetectConfig(score_threshold=args.score_threshold, nms_iou=args.nms_iou)
    result = rcnn.compare(image, clf, cfg, rcnn.ProposalConfig(max_proposals=args.proposals))
    out = {"image": str(path), "model": clf.name, **result.to_json()}
    if args.json:
        print(json.dumps(out))
        return 0
    print(text_report(out))
    return 0


def text_report(out: dict) -> str:
    """The command's JSON object as lines for a person: each method's boxes, the erase test's best box marked (it
    comes first although another box may score higher), and how the two methods compare."""
    lines = [f"{out['image']}: {out['proposals']} proposals by selective search in {out['proposal_seconds']:.2f} s"]
    for key, title in (("rcnn", "R-CNN"), ("fast_rcnn", "Fast R-CNN")):
        m = out[key]
        lines.append(f"{title}: {m['seconds']:.3f} s, {len(m['boxes'])} boxes")
        best = (m.get("best") or {}).get("proposal_index", -1)
        for k, (box, label, score) in enumerate(zip(m["boxes"], m["labels"], m["scores"], strict=True)):
            first = k == 0 and m["proposal_index"][0] == best
            lines.append(f"  {score:.3f}  {label:30s} {box}" + ("  <- best box (erase test, voted)" if first else ""))
    lines.append(
        f"Fast R-CNN is {out['speedup']:.1f}× faster; same top label on {out['label_agreement']:.0%} of proposals"
    )
    return "\n".join(lines)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``rcnn`` to the command line."""
    p = sub.add_parser(
        "rcnn",
        help="R-CNN vs Fast R-CNN (selective search + EfficientNet-Lite0's ImageNet classes) on one photo",
    )
    p.add_argument("image", help="a photo (PNG, JPEG, ...)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--proposals", type=int, default=150, help="at most this many proposals (default 150)")
    p.add_argument(
        "--score-threshold", type=float, default=0.2, help="keep boxes whose best class is above this (default 0.2)"
    )
    p.add_argument("--nms-iou", type=float, default=0.3, help="per-class NMS IoU threshold (default 0.3)")
    p.add_argument("--max-side", type=int, default=800, help="shrink larger photos to this longer side first")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.set_defaults(func=_cmd_rcnn)
