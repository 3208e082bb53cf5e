"""Benchmark: this project's frozen-backbone fine-tuning (features cached once) against PyTorch's transfer-learning
tutorial recipe (backbone recomputed every epoch), on the tutorial's own hymenoptera data, in one run.

    CNN_DEMO_WEIGHTS_DIR=../shared/data/weights python bench/finetune.py [--backbone cifar_resnet56]
        [--image-size 64] [--lr 0.01] [--tutorial-epochs 25] [--resnet18-epochs 1] [--memory]

(a) ``cnn_demo.finetune.train`` with ``strategy="frozen"``: features computed once, 25 head epochs.
(b) The tutorial's "ConvNet as fixed feature extractor": same backbone and weights, a new linear head, SGD
    (lr 0.001, momentum 0.9, StepLR 7/0.1), batch 4, RandomResizedCrop + flip, backbone run on every image of
    every epoch, best validation accuracy kept.

Offline there are no ImageNet weights, so the accuracy comparison uses the pretrained ``cifar_resnet56`` (CIFAR-10
weights in ../shared/data/weights) against the same network with random weights. ResNet-18 can only be timed
(random weights: its accuracy means nothing); its recipe (b) is run for ``--resnet18-epochs`` epochs and the per-epoch
time is multiplied to 25 epochs, which the output says. ``--memory`` measures the peak memory of a worker running (a)
on 5,000 generated 256×256 images handed over as the page does (a fresh process per measurement that unpacks the zip
from its path, as the ``finetune`` job does). The peak is the child's own VmHWM: ``ru_maxrss`` (also printed) carries
the parent's peak over ``exec`` and so read ~2.1 GB whatever the child did.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_demo import finetune  # noqa: E402

HYMENOPTERA = ROOT.parent / "shared" / "data" / "hymenoptera_data"


def tutorial_recipe(data: finetune.ImageData, backbone: str, pretrained: bool, size: int, epochs: int) -> dict:
    """PyTorch's fixed-feature-extractor recipe: the frozen backbone runs on every image in every epoch."""
    torch.manual_seed(0)
    bb = finetune.load_backbone(backbone, pretrained)
    for p in bb.features.parameters():
        p.requires_grad_(False)
    head = nn.Linear(bb.num_features, len(data.class_names))
    model = nn.Sequential(bb.features, head)
    train_tf = finetune.make_transform(bb.preprocess, finetune.AugmentSpec(flip=True, crop=True, crop_scale=0.08), size)
    val_tf = finetune.make_transform(bb.preprocess, None, size)
    opt = torch.optim.SGD(head.parameters(), lr=0.001, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1)
    y_train, y_val = torch.tensor(data.train_labels), torch.tensor(data.val_labels)
    best, best_state = 0.0, None
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        bb.features.eval()  # frozen BatchNorm, as requires_grad=False layers keep their statistics in the tutorial
        perm = torch.randperm(len(data.train_images))
        for i in range(0, len(perm), 4):
            idx = perm[i : i + 4]
            x = torch.stack([train_tf(data.train_images[j]) for j in idx.tolist()])
            loss = F.cross_entropy(model(x), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            preds = torch.cat(
                [
                    model(torch.stack([val_tf(im) for im in data.val_images[i : i + 32]])).argmax(1)
                    for i in range(0, len(data.val_images), 32)
                ]
            )
        acc = float((preds == y_val).float().mean())
        if acc > best:
            best, best_state = acc, copy.deepcopy(head.state_dict())
    seconds = time.perf_counter() - t0
    del best_state
    return {"seconds": seconds, "val_accuracy": best, "epochs": epochs}


def ours(data: finetune.ImageData, backbone: str, pretrained: bool, size: int, epochs: int, lr: float = 1e-2) -> dict:
    """This project's frozen strategy: features once, then only the head trains."""
    cfg = finetune.TrainConfig(
        backbone=backbone, pretrained=pretrained, strategy="frozen", epochs=epochs, lr=lr, image_size=size
    )
    t0 = time.perf_counter()
    r = finetune.train(data, cfg)
    return {
        "seconds": time.perf_counter() - t0,
        "feature_seconds": r.feature_seconds,
        "val_accuracy": r.evaluation["val_accuracy"],
        "best_val_accuracy": max(h["val_accuracy"] for h in r.history),
        "epochs": epochs,
    }


def make_memory_zip(path: Path, n: int) -> None:
    """``n`` generated 256×256 images in ten classes, packed as the page hands a dataset to a job."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # smooth pictures: a realistic PNG size
        images.append(Image.fromarray(small).resize((256, 256), Image.Resampling.BILINEAR))
        labels.append(i % 10)
    cut = int(n * 0.8)
    data = finetune.ImageData([str(c) for c in range(10)], images[:cut], labels[:cut], images[cut:], labels[cut:])
    path.write_bytes(finetune.pack_data(data))


def peak_rss_mb() -> float:
    """This process's own peak resident memory (MB).

    ``/proc/self/status`` VmHWM, not ``ru_maxrss``: on Linux ``ru_maxrss`` survives ``exec``, so a child started by
    ``subprocess`` reports at least its parent's peak (here the parent had just held 5,000 decoded images to pack).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(path: str, backbone: str, size: int) -> None:
    """Peak resident memory of a worker running a frozen job on the packed dataset at ``path`` (prints JSON).

    Does what the ``finetune`` job does: unpack the zip from its path, then train.
    """
    t0 = time.perf_counter()
    imports_mb = peak_rss_mb()
    cfg = finetune.TrainConfig(backbone=backbone, pretrained=False, strategy="frozen", epochs=3, image_size=size)
    data = finetune.unpack_data(Path(path), max_side=finetune.keep_side(cfg))
    n = len(data.train_images) + len(data.val_images)
    finetune.train(data, cfg)
    print(
        json.dumps(
            {
                "images": n,
                "backbone": backbone,
                "size": size,
                "peak_mb": round(peak_rss_mb()),
                "imports_mb": round(imports_mb),
                "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="cifar_resnet56")
    ap.add_argument("--image-size", type=int, default=64, help="input size (the CIFAR nets do better at 64 than 32)")
    ap.add_argument("--lr", type=float, default=1e-2, help="head learning rate of (a)")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--tutorial-epochs", type=int, default=25)
    ap.add_argument("--resnet18-epochs", type=int, default=0, help="also time ResNet-18 (random weights)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--skip-cifar", action="store_true", help="skip the CIFAR-ResNet runs (e.g. with --resnet18-epochs)"
    )
    ap.add_argument("--memory", action="store_true", help="measure peak memory on 5,000 generated images")
    ap.add_argument("--memory-child", nargs=3, metavar=("ZIP", "BACKBONE", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return

    if not args.skip_cifar or args.resnet18_epochs:
        t0 = time.perf_counter()
        data = finetune.read_data(HYMENOPTERA)
        print(
            f"hymenoptera: {len(data.train_images)} train / {len(data.val_images)} val, classes {data.class_names}, "
            f"decoded in {time.perf_counter() - t0:.1f} s (shared by every run below)",
            flush=True,
        )
    rows: dict[str, dict] = {}

    def report(name: str, row: dict) -> None:
        rows[name] = row
        values = "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        print(f"{name:75s} {values}", flush=True)

    for pretrained in () if args.skip_cifar else (True, False):
        label = f"{args.backbone} {'pretrained' if pretrained else 'random weights'} @ {args.image_size}px"
        a = ours(data, args.backbone, pretrained, args.image_size, args.epochs, args.lr)
        report(f"(a) frozen, cached features: {label}", a)
        if pretrained:
            b = tutorial_recipe(data, args.backbone, pretrained, args.image_size, args.tutorial_epochs)
            report(f"(b) tutorial recipe: {label}", b)
            report("ratio (b)/(a) wall time", {"ratio": b["seconds"] / a["seconds"]})
    if args.resnet18_epochs:
        a = ours(data, "resnet18", False, 224, args.epochs, args.lr)
        report("(a) frozen, cached features: resnet18 random weights @ 224px", a)
        b = tutorial_recipe(data, "resnet18", False, 224, args.resnet18_epochs)
        per_epoch = b["seconds"] / args.resnet18_epochs
        report(f"(b) tutorial recipe: resnet18 @ 224px, {args.resnet18_epochs} epoch(s) measured", b)
        report("(b) resnet18 extrapolated to 25 epochs", {"seconds": per_epoch * 25})
        report("ratio (b, 25 epochs extrapolated)/(a) resnet18", {"ratio": per_epoch * 25 / a["seconds"]})
    if args.memory:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            packed = Path(tmp) / "data.zip"
            make_memory_zip(packed, 5000)
            for backbone, size in (("cifar_resnet56", 32), ("resnet18", 224)):
                cmd = [sys.executable, __file__, "--memory-child", str(packed), backbone, str(size)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                print("memory:", out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
