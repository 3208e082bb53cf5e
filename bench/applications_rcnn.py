"""R-CNN against Fast R-CNN on the same selective-search proposals (not a test), with 1 torch thread.

    .venv/bin/python bench/applications_rcnn.py [--limit N] [--proposals 150] [--no-train]

Photos: COCO val2017 sample images whose largest labelled object is an animal of
``cnn_demo.applications.rcnn.ANIMAL_CLASSES`` (cat, dog, bird, horse, sheep, cow, elephant, bear, zebra, giraffe);
also, unless ``--no-train``, the same kind of photos of the train2017 sample (COCO's labels; EfficientNet-Lite0
never saw COCO, so for this classifier they are unseen photos as well). For each photo and method: the seconds to
classify the same proposals (and erase-test the best box's candidates), whether the two name the same class per
proposal, and whether the best box has IoU ≥ 0.5 with the largest animal and names it (its ImageNet class is in
that animal's group): the ranked best box (the erase test), and for comparison the highest-scoring box alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a script, alone or through bench/applications.py
COCO = ROOT.parent / "shared" / "data" / "coco_sample"
VAL = (COCO / "val2017" / "images", COCO / "val2017" / "instances_val2017_boxes_from_yolo.json")
TRAIN = (COCO / "train2017" / "images", COCO / "train2017" / "instances_train2017.json")


def photos(images: Path, annotations: Path) -> list[tuple[Path, str, np.ndarray]]:
    """(path, animal, xyxy box) of each photo whose largest labelled object is one of the animals."""
    from cnn_demo.applications import rcnn

    coco = json.loads(annotations.read_text())
    return [(images / f, animal, box) for f, animal, box in rcnn.largest_objects(coco) if (images / f).is_file()]


def reachable(result, method, animal: str, box: np.ndarray) -> bool:
    """Whether some proposal has IoU ≥ 0.5 with the animal and the method's top class for it names the animal:
    the most a better ranking of the same proposals and probabilities could reach."""
    from torchvision.ops import box_iou

    from cnn_demo.applications import rcnn

    iou = box_iou(torch.from_numpy(result.proposals.boxes), torch.from_numpy(box[None]))[:, 0].numpy()
    named = np.isin(method.top_classes, rcnn.ANIMAL_CLASSES[animal])
    return bool((named & (iou >= 0.5)).any())


def run(items, clf, cfg, pcfg, label: str) -> dict:
    """Both methods on every photo; print a row per photo and the totals."""
    from cnn_demo.applications import rcnn

    rows = []
    print(f"\n{label}: {len(items)} photos whose largest object is an animal")
    print("| photo | animal | proposals | R-CNN s | Fast R-CNN s | × | agree | R-CNN best box | Fast R-CNN best box |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path, animal, box in items:
        image = np.asarray(Image.open(path).convert("RGB"))
        r = rcnn.compare(image, clf, cfg, pcfg)
        best = {m.method: rcnn.best_box(m.detections, animal, box) for m in (r.rcnn, r.fast)}
        by_score = {
            m.method: rcnn.best_box(
                rcnn.detections_from(m.probabilities, r.proposals.boxes, cfg, clf.classes), animal, box
            ).hit
            for m in (r.rcnn, r.fast)
        }
        rows.append((r, best, {m.method: reachable(r, m, animal, box) for m in (r.rcnn, r.fast)}, by_score))
        cells = [
            f"{b.label or '(none)'} IoU {b.iou:.2f} {'✓' if b.hit else '✗'}" for b in best.values()
        ]  # fmt: skip
        print(
            f"| {path.stem} | {animal} | {len(r.proposals)} | {r.rcnn.seconds:.2f} | {r.fast.seconds:.3f} | "
            f"{r.speedup:.0f} | {r.agreement:.0%} | {cells[0]} | {cells[1]} |",
            flush=True,
        )
    if not rows:
        return {}
    sizes = [r.agreement_by_size() for r, _, _, _ in rows]
    slow = sum(r.rcnn.seconds for r, _, _, _ in rows)
    fast = sum(r.fast.seconds for r, _, _, _ in rows)
    out = {
        "photos": len(rows),
        "proposals_mean": statistics.mean(len(r.proposals) for r, _, _, _ in rows),
        "selective_search_s_median": statistics.median(r.proposals.seconds for r, _, _, _ in rows),
        "rcnn_s": slow,
        "fast_rcnn_s": fast,
        "speedup_total": slow / fast,
        "speedup_min": min(r.speedup for r, _, _, _ in rows),
        "agreement_mean": statistics.mean(r.agreement for r, _, _, _ in rows),
        "agreement_by_size": [
            (size, sum(s[k][1] for s in sizes), sum(s[k][2] for s in sizes)) for k, (size, _, _) in enumerate(sizes[0])
        ],
        "rcnn_hits": sum(b["R-CNN"].hit for _, b, _, _ in rows),
        "fast_hits": sum(b["Fast R-CNN"].hit for _, b, _, _ in rows),
        "rcnn_hits_by_score": sum(s["R-CNN"] for _, _, _, s in rows),
        "fast_hits_by_score": sum(s["Fast R-CNN"] for _, _, _, s in rows),
        "rcnn_reachable": sum(ok["R-CNN"] for _, _, ok, _ in rows),
        "fast_reachable": sum(ok["Fast R-CNN"] for _, _, ok, _ in rows),
    }
    n = out["photos"]
    print(
        f"\n{label}: {n} photos, {out['proposals_mean']:.0f} proposals on average "
        f"(selective search median {out['selective_search_s_median']:.2f} s)\n"
        f"  classifying the same proposals: R-CNN {slow:.1f} s, Fast R-CNN {fast:.2f} s: "
        f"{out['speedup_total']:.0f}× faster in total, {out['speedup_min']:.0f}× on the least favourable photo "
        f"(floor: ≥ 10×)\n"
        f"  same top label for the same proposal: {out['agreement_mean']:.0%} on average; by proposal side: "
        + ", ".join(f"{size} {same}/{n} ({same / max(n, 1):.0%})" for size, same, n in out["agreement_by_size"])
        + "\n"
        f"  best box IoU ≥ 0.5 with the animal and names it: R-CNN {out['rcnn_hits']}/{n} "
        f"({out['rcnn_hits'] / n:.0%}), Fast R-CNN {out['fast_hits']}/{n} ({out['fast_hits'] / n:.0%}) (aim ≥ 50 %)\n"
        f"  … the highest-scoring box instead (class groups, no erase test): R-CNN {out['rcnn_hits_by_score']}/{n}, "
        f"Fast R-CNN {out['fast_hits_by_score']}/{n}\n"
        f"  some proposal has IoU ≥ 0.5 with the animal and is named it: R-CNN {out['rcnn_reachable']}/{n}, "
        f"Fast R-CNN {out['fast_reachable']}/{n} (what a better ranking of the same scores could reach)",
        flush=True,
    )
    return out


def main(argv: list[str]) -> dict:
    from cnn_demo import models
    from cnn_demo.applications import rcnn

    parser = argparse.ArgumentParser(prog="bench/applications_rcnn.py")
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos of each set (0: all)")
    parser.add_argument("--proposals", type=int, default=rcnn.ProposalConfig().max_proposals)
    parser.add_argument("--no-train", action="store_true", help="skip the train2017 sample")
    args = parser.parse_args(argv)
    print(f"torch threads: {torch.get_num_threads()}")
    clf = rcnn.split_classifier(models.create("tf_efficientnet_lite0"))
    cfg = rcnn.DetectConfig()
    warm = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    rcnn.compare(warm, clf, cfg, rcnn.ProposalConfig(max_proposals=20))  # first calls pay one-time set-up costs
    pcfg = rcnn.ProposalConfig(max_proposals=args.proposals)
    print(f"{cfg}\n{pcfg}")
    results = {}
    sets = [("val2017", VAL)] + ([] if args.no_train else [("train2017", TRAIN)])
    for label, (images, labels) in sets:
        if not labels.is_file():
            print(f"{label}: {labels} is absent, skipped")
            continue
        items = photos(images, labels)
        results[label] = run(items[: args.limit] if args.limit else items, clf, cfg, pcfg, label)
    return results


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:])
