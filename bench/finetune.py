"""Benchmark: this project's frozen-backbone fine-tuning (features cached once) against PyTorch's transfer-learning
tutorial recipe (backbone recomputed every epoch), on the tutorial's own hymenoptera data, in one run.

    .venv/bin/python bench/finetune.py [--tutorial-epochs 25] [--features] [--threads 2]
    CNN_DEMO_WEIGHTS_DIR=../shared/data/weights .venv/bin/python bench/finetune.py --backbone cifar_resnet56 \
        --image-size 64 --lr 0.01 [--resnet18-epochs 1] [--memory]

Default: EfficientNet-Lite0 with the ImageNet weights set-up installs (``requirements-weights.txt``), at 224 px.

(a) The ``finetune`` job end to end, as a worker runs it: read the packed zip the page hands over, compute the
    frozen features once, train the head (10 epochs, the page's defaults), evaluate, export ``model.zip``.
    ``--image-size`` runs it at another side (smaller frozen features, if accuracy holds).
(b) The tutorial's "ConvNet as fixed feature extractor": same backbone and weights, the same zip read first, a new
    linear head, SGD (lr 0.001, momentum 0.9, StepLR 7/0.1), batch 4, RandomResizedCrop + flip, backbone run on
    every image of every epoch, best validation accuracy kept. With ``--tutorial-epochs`` below 25 its time is
    also extrapolated to 25 epochs (per-epoch time × 25), and the output says so.
``--features``: img/s of frozen feature extraction alone on the validation images (decoded beforehand), for torch
threads 1 and 2, batch 8/32/64, the model in channels_last on/off (the input always is), and smaller sides; and of
the copy the job runs (``finetune.features.inference_copy``). The job's own figure is ``feature_img_per_s`` of (a),
whose images are decoded during the pass.

The CIFAR options (``--backbone cifar_resnet56 --image-size 64``, ``--resnet18-epochs``) run (a) as
``finetune.train`` directly. ``--memory`` measures the peak memory of a worker running (a) on 5,000 generated
256×256 images handed over as the page does (a fresh process per measurement that unpacks the zip from its path,
as the ``finetune`` job does). The peak is the child's own VmHWM: ``ru_maxrss`` (also printed) carries the parent's
peak over ``exec`` and so read ~2.1 GB whatever the child did.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_demo import finetune  # noqa: E402
from cnn_demo.finetune.features import inference_copy  # noqa: E402

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


def job_end_to_end(packed: Path, cfg: finetune.TrainConfig, threads: int) -> dict:
    """The real ``finetune`` job on a packed zip in a fresh state folder (no feature cache), timed end to end."""
    import tempfile

    from cnn_demo import jobs
    from cnn_demo.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "job"
        (folder / "inputs").mkdir(parents=True)
        shutil.copyfile(packed, folder / "inputs" / "data.zip")
        ctx = jobs.JobContext("bench", folder, Settings(state_dir=Path(tmp) / "state", torch_threads=threads))
        t0 = time.perf_counter()
        summary = finetune.finetune_job({"config": cfg.to_dict()}, ctx)
        seconds = time.perf_counter() - t0
        exported = (folder / "model.zip").stat().st_size
    return {
        "seconds": seconds,
        "feature_seconds": summary["feature_seconds"],
        "val_accuracy": summary["val_accuracy"],  # the model kept: lowest validation loss
        "best_epoch_val_accuracy": max(h["val_accuracy"] for h in summary["history"]),  # (b)'s selection rule
        "model_zip_mb": exported / 1e6,
        "epochs": summary["epochs"],
    }


def feature_speed(data: finetune.ImageData, backbone: str, sizes: list[int], n: int) -> None:
    """img/s of frozen feature extraction on ``n`` validation images, for threads, batch, memory format, side."""
    bb = finetune.load_backbone(backbone, True)
    images = list(data.val_images[:n])
    base = bb.features
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for size in sizes:
            tf = finetune.make_transform(bb.preprocess, None, size)
            keep = finetune.data.downscaled(images, math.floor(size / bb.preprocess.crop_pct + 1e-6))
            for batch in (8, 32, 64):
                for channels_last in (False, True):
                    if (size != sizes[0] or threads == 1) and (batch != 32 or channels_last):
                        continue  # the full grid at the backbone's size on 2 threads; the default elsewhere
                    net = copy.deepcopy(base).to(memory_format=torch.channels_last) if channels_last else base
                    finetune.extract_features(net, keep[:batch], tf, batch)  # warm-up
                    t0 = time.perf_counter()
                    finetune.extract_features(net, keep, tf, batch)
                    dt = time.perf_counter() - t0
                    print(
                        f"features: threads={threads} side={size} batch={batch} model_channels_last={channels_last} "
                        f"img/s={len(keep) / dt:.1f}",
                        flush=True,
                    )
                    if batch == 8 and not channels_last:  # what the job runs: the backbone's inference copy
                        job_net = inference_copy(base, torch.randn(2, 3, size, size))
                        finetune.extract_features(job_net, keep[:batch], tf, batch)
                        t0 = time.perf_counter()
                        finetune.extract_features(job_net, keep, tf, batch)
                        dt = time.perf_counter() - t0
                        print(
                            f"features: threads={threads} side={size} batch={batch} model=job's inference copy "
                            f"(BatchNorm folded, fixed padding, packed fused convolutions) img/s={len(keep) / dt:.1f}",
                            flush=True,
                        )
    torch.set_num_threads(2)


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
    ap.add_argument("--backbone", default=finetune.DEFAULT_BACKBONE)
    ap.add_argument("--image-size", type=int, default=None, help="input side (default: the backbone's own)")
    ap.add_argument("--lr", type=float, default=None, help="head learning rate of (a) (default: the page's)")
    ap.add_argument("--epochs", type=int, default=None, help="head epochs of (a) (default: the page's)")
    ap.add_argument("--tutorial-epochs", type=int, default=25)
    ap.add_argument("--resnet18-epochs", type=int, default=0, help="also time ResNet-18 (random weights)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the job's CNN_DEMO_JOB_THREADS)")
    ap.add_argument("--features", action="store_true", help="img/s of feature extraction alone, several settings")
    ap.add_argument("--feature-images", type=int, default=64)
    ap.add_argument("--skip-tutorial", action="store_true", help="only (a)")
    ap.add_argument("--skip-cifar", action="store_true", help="skip the main comparison (e.g. with --resnet18-epochs)")
    ap.add_argument("--memory", action="store_true", help="measure peak memory on 5,000 generated images")
    ap.add_argument("--memory-child", nargs=3, metavar=("ZIP", "BACKBONE", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return

    data = None
    if not args.skip_cifar or args.resnet18_epochs or args.features:
        t0 = time.perf_counter()
        data = finetune.read_data(HYMENOPTERA)
        print(
            f"hymenoptera: {len(data.train_images)} train / {len(data.val_images)} val, classes {data.class_names}, "
            f"decoded in {time.perf_counter() - t0:.1f} s; torch threads {args.threads}",
            flush=True,
        )
    rows: dict[str, dict] = {}

    def report(name: str, row: dict) -> None:
        rows[name] = row
        values = "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        print(f"{name:75s} {values}", flush=True)

    if args.features:
        info = finetune.describe_backbone(args.backbone)
        sizes = [info["input_size"], *(s for s in (192, 160) if s < info["input_size"])]
        feature_speed(data, args.backbone, sizes, args.feature_images)

    is_cifar = args.backbone.startswith("cifar_") or args.backbone == "myconvnet"
    if not args.skip_cifar and is_cifar:
        size, lr = args.image_size or 64, args.lr or 1e-2
        for pretrained in (True, False):
            label = f"{args.backbone} {'pretrained' if pretrained else 'random weights'} @ {size}px"
            a = ours(data, args.backbone, pretrained, size, args.epochs or 25, lr)
            report(f"(a) frozen, cached features: {label}", a)
            if pretrained:
                b = tutorial_recipe(data, args.backbone, pretrained, size, args.tutorial_epochs)
                report(f"(b) tutorial recipe: {label}", b)
                report("ratio (b)/(a) wall time", {"ratio": b["seconds"] / a["seconds"]})
    elif not args.skip_cifar:
        import tempfile

        cfg = finetune.TrainConfig(backbone=args.backbone, image_size=args.image_size)
        cfg = replace(cfg, **{k: v for k, v in (("lr", args.lr), ("epochs", args.epochs)) if v is not None})
        size = cfg.image_size or finetune.describe_backbone(args.backbone)["input_size"]
        with tempfile.TemporaryDirectory() as tmp:
            packed = Path(tmp) / "data.zip"
            packed.write_bytes(finetune.pack_data(data))  # what the page hands a job (packing happens at upload)
            del data
            label = f"{args.backbone} pretrained @ {size}px, {cfg.epochs} head epochs, lr {cfg.lr}"
            a = job_end_to_end(packed, cfg, args.threads)
            a["feature_img_per_s"] = _n_images(packed) / a["feature_seconds"]
            report(f"(a) finetune job end to end (zip, features, head, eval, export): {label}", a)
            if not args.skip_tutorial:
                t0 = time.perf_counter()
                bdata = finetune.unpack_data(packed)
                read_s = time.perf_counter() - t0
                b = tutorial_recipe(bdata, args.backbone, True, size, args.tutorial_epochs)
                b["seconds"] += read_s
                report(f"(b) tutorial recipe: {args.backbone} pretrained @ {size}px, zip read included", b)
                report("ratio (b)/(a) wall time", {"ratio": b["seconds"] / a["seconds"]})
                if args.tutorial_epochs < 25:
                    b25 = read_s + (b["seconds"] - read_s) / args.tutorial_epochs * 25
                    report("(b) extrapolated to 25 epochs (per-epoch time × 25)", {"seconds": b25})
                    report("ratio (b, 25 epochs extrapolated)/(a)", {"ratio": b25 / a["seconds"]})
                report(
                    "accuracy (a) - (b)",
                    {"difference": a["val_accuracy"] - b["val_accuracy"], "b_epochs": args.tutorial_epochs},
                )
    if args.resnet18_epochs:
        a = ours(data, "resnet18", False, 224, args.epochs or 25, args.lr or 1e-2)
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


def _n_images(packed: Path) -> int:
    """Images in a packed zip (train + val), from its manifest."""
    import zipfile

    with zipfile.ZipFile(packed) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    return len(manifest["train"]) + len(manifest["val"])


if __name__ == "__main__":
    main()
