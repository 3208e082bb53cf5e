"""U-Net: the encoder–decoder with skip connections for segmentation, small enough to train from scratch on a CPU.

The encoder halves the resolution and doubles the channels at every level; the decoder up-samples back and
concatenates the encoder's feature map of the same level (the *skip connection*), so the fine detail lost by
pooling returns to the output. Convolutions are padded, so the output has the input's size (the original
U-Net used unpadded convolutions: 572×572 in, 388×388 out); sizes that do not halve evenly are padded back
to the skip's size before concatenation.

:func:`train_unet` is the job (kind ``unet_train``): generated shapes, the shared PASCAL VOC sample or an
uploaded zip of ``images/`` + ``masks/``; it reports loss, IoU and Dice per epoch and saves predictions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnn_demo import jobs, training
from cnn_demo.applications.job_records import UNetParams, UNetResult
from cnn_demo.applications.metrics import mean_iou_dice
from cnn_demo.errors import InputError

if TYPE_CHECKING:
    from cnn_demo.data.datasets import SegmentationDataset, SkippedFile

MAX_SIDE = 1024
#: The two classes of the VOC sample's object-versus-background task.
OBJECT_CLASSES: tuple[str, ...] = ("background", "object")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A U-Net with ``depth`` poolings; level ``d`` has ``base * 2**d`` channels."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base: int = 16, depth: int = 3) -> None:
        super().__init__()
        if not 1 <= depth <= 6 or not 1 <= base <= 128 or num_classes < 2 or in_channels < 1:
            raise InputError("A U-Net needs 1–6 levels, 1–128 base channels and at least 2 classes.")
        self.depth = depth
        self.encoders = nn.ModuleList(
            [_block(in_channels if d == 0 else base * 2 ** (d - 1), base * 2**d) for d in range(depth)]
        )
        self.bottleneck = _block(base * 2 ** (depth - 1), base * 2**depth)
        self.ups = nn.ModuleList(
            [nn.ConvTranspose2d(base * 2 ** (d + 1), base * 2**d, 2, stride=2) for d in reversed(range(depth))]
        )
        self.decoders = nn.ModuleList([_block(base * 2 ** (d + 1), base * 2**d) for d in reversed(range(depth))])
        self.head = nn.Conv2d(base, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (N, classes, H, W) for images (N, C, H, W)."""
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = up(x)
            dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            if dh or dw:
                x = F.pad(x, (0, dw, 0, dh))
            x = dec(torch.cat([skip, x], dim=1))
        return self.head(x)


def unet_shapes(
    height: int, width: int, *, in_channels: int = 3, num_classes: int = 2, base: int = 16, depth: int = 3
) -> list[dict]:
    """The tensor shape (C, H, W) after every stage of a U-Net for an input of ``height``×``width``.

    Runs the real module on PyTorch's "meta" device (shapes only, no memory, no arithmetic). Each row:
    ``name``, ``side`` (encoder/bottleneck/decoder/output), ``depth``, ``shape`` and, for decoder rows,
    ``up`` (after the up-convolution) and ``concat`` (after concatenating the skip).
    """
    if not 2**depth <= min(height, width) or max(height, width) > MAX_SIDE:
        raise InputError(f"Choose an input between {2**depth} and {MAX_SIDE} pixels on a side for {depth} levels.")
    with torch.device("meta"):
        model = UNet(in_channels, num_classes, base, depth)
        x = torch.empty(1, in_channels, height, width)
    rows: list[dict] = [{"name": "input", "side": "input", "depth": 0, "shape": (in_channels, height, width)}]
    skips = []
    for d, enc in enumerate(model.encoders):
        x = enc(x)
        skips.append(x)
        rows.append({"name": f"enc{d + 1}", "side": "encoder", "depth": d, "shape": tuple(x.shape[1:])})
        x = F.max_pool2d(x, 2)
    x = model.bottleneck(x)
    rows.append({"name": "bottleneck", "side": "bottleneck", "depth": depth, "shape": tuple(x.shape[1:])})
    for i, (up, dec, skip) in enumerate(zip(model.ups, model.decoders, reversed(skips), strict=True)):
        d = depth - 1 - i
        x = up(x)
        up_shape = tuple(x.shape[1:])
        dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dh or dw:
            x = F.pad(x, (0, dw, 0, dh))
        x = torch.cat([skip, x], dim=1)
        concat = tuple(x.shape[1:])
        x = dec(x)
        rows.append(
            {"name": f"dec{d + 1}", "side": "decoder", "depth": d, "shape": tuple(x.shape[1:]), "up": up_shape,
             "concat": concat, "padded": bool(dh or dw)}
        )  # fmt: skip
    x = model.head(x)
    rows.append({"name": "output", "side": "output", "depth": 0, "shape": tuple(x.shape[1:])})
    return rows


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------- data

SHAPE_CLASSES: tuple[str, ...] = ("background", "disc", "square")


def make_shapes(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` generated pictures (N, H, W, 3) uint8 of discs and squares on noisy gradient backgrounds, and their
    masks (N, H, W) uint8 with 0 = background, 1 = disc, 2 = square. Deterministic for a given seed."""
    if not 1 <= n <= 5000 or not 16 <= size <= 256:
        raise InputError("Generate 1–5000 pictures of 16–256 pixels.")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / size
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        img = c0 * (1 - t[..., None]) + c1 * t[..., None] + rng.normal(0, 12, (size, size, 3))
        for _ in range(rng.integers(1, 4)):
            kind = int(rng.integers(1, 3))
            r = rng.uniform(size * 0.08, size * 0.2)
            cx, cy = rng.uniform(r, size - r, 2)
            shape = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r if kind == 1 else (abs(xx - cx) <= r) & (abs(yy - cy) <= r)
            img[shape] = rng.uniform(0, 255, 3)
            masks[i][shape] = kind
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, masks


def _resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    img = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float()
    img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    m = torch.from_numpy(np.array(mask, copy=True))[None, None].float()
    m = F.interpolate(m, size=(size, size), mode="nearest")
    return img[0].permute(1, 2, 0).clamp(0, 255).round().byte().numpy(), m[0, 0].byte().numpy()


@dataclass(frozen=True)
class SegData:
    """Training and validation arrays for the U-Net job."""

    train_images: np.ndarray
    train_masks: np.ndarray
    val_images: np.ndarray
    val_masks: np.ndarray
    class_names: tuple[str, ...]

    def objects_only(self) -> SegData:
        """Two classes, background and object (every other class merged; 255 stays ignored): a task 14 photos can
        teach, where 21 classes with a handful of examples each cannot."""

        def merge(m: np.ndarray) -> np.ndarray:
            return np.where(m == 255, 255, (m > 0).astype(np.uint8)).astype(np.uint8)

        return SegData(
            self.train_images, merge(self.train_masks), self.val_images, merge(self.val_masks), OBJECT_CLASSES
        )


def load_training_data(params: UNetParams | Mapping, inputs: Path | None = None) -> SegData:
    """The data a U-Net job trains on: ``params.data`` is ``shapes``, ``voc_sample``, ``voc_objects`` or
    ``upload``."""
    p = params if isinstance(params, UNetParams) else UNetParams.from_params(params)
    size, seed, source = p.size, p.seed, p.data
    if source == "shapes":
        n_train, n_val = p.n_train, p.n_val
        x, y = make_shapes(n_train + n_val, size, seed)
        return SegData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], SHAPE_CLASSES)
    from cnn_demo.data import datasets

    if source in ("voc_sample", "voc_objects"):
        ds = datasets.load_voc_sample()
    elif source == "upload":
        path = None if inputs is None else inputs / "pairs.zip"
        if path is None or not path.is_file():
            raise InputError("The uploaded zip of images/ and masks/ is missing.")
        ds = check_pairs(path.read_bytes(), "pairs.zip")
    else:
        raise InputError(f"Unknown training data {source!r}: use shapes, voc_sample or upload.")
    ds.require_trainable()
    if len(ds) < 2:
        raise InputError("At least 2 image/mask pairs are needed (one for training, one to check).")
    pairs = [_resize_pair(img, m, size) for img, m in zip(ds.images, ds.masks, strict=True)]
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = max(1, len(pairs) // 5)
    x = np.stack([p[0] for p in pairs])[order]
    y = np.stack([p[1] for p in pairs])[order]
    if source == "voc_objects":
        return SegData(x[n_val:], y[n_val:], x[:n_val], y[:n_val], tuple(ds.class_names)).objects_only()
    return SegData(x[n_val:], y[n_val:], x[:n_val], y[:n_val], tuple(ds.class_names))


def _code(text: str) -> str:
    """A user's file name as a markdown code span (shown literally: no links, no formatting)."""
    return "`" + text.replace("`", "'").replace("\n", " ")[:80] + "`"


def skipped_summary(skipped: Sequence[SkippedFile], limit: int = 3) -> str:
    """The first ``limit`` skipped files of a report with their reasons, for a message (names shown literally)."""
    parts = [f"{_code(f.path)} ({f.reason}{': ' + f.detail if f.detail else ''})" for f in skipped[:limit]]
    more = f" and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return "; ".join(parts) + more


def check_pairs(data: bytes, name: str = "pairs.zip") -> SegmentationDataset:
    """The image/mask pairs of an uploaded zip, read safely; :class:`InputError` when a U-Net cannot train on them.

    The message says what blocks training and, when files were skipped, which ones and why (an image without
    its mask, a mask of another size, a broken image, a link, an unsafe path), so the page can show it at once
    instead of the job failing later in the worker.
    """
    from cnn_demo.data import datasets

    ds = datasets.read_segmentation_zip(data, name)
    problems = list(ds.report.errors)
    if not problems and len(ds) < 2:
        problems.append("At least 2 image/mask pairs are needed (one for training, one to check).")
    if problems:
        why = f" Skipped: {skipped_summary(ds.report.skipped)}." if ds.report.skipped else ""
        raise InputError(" ".join(problems) + why)
    return ds


# ---------------------------------------------------------------------------------------------- metrics


def iou_dice(pred: np.ndarray, truth: np.ndarray, num_classes: int, ignore: int = 255) -> tuple[float, float]:
    """Mean IoU and mean Dice over the foreground classes (1..) present in ``truth`` or ``pred``, pooled over
    all images; pixels labelled ``ignore`` do not count. 1.0 when neither has any foreground.
    (:func:`cnn_demo.applications.metrics.mean_iou_dice`, the one implementation.)"""
    return mean_iou_dice(pred, truth, num_classes, ignore)


# ---------------------------------------------------------------------------------------------- training


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Predicted label maps (N, H, W) uint8 for images (N, H, W, 3) uint8."""
    was = model.training
    model.eval()
    out = [model(_to_tensor(images[i : i + batch])).argmax(1).byte().numpy() for i in range(0, len(images), batch)]
    model.train(was)
    return np.concatenate(out)


PREVIEW = 4


def class_weights(masks: np.ndarray, num_classes: int) -> torch.Tensor:
    """Cross-entropy weights 1/sqrt(pixel share) per class (mean 1 over the classes present), so small objects
    are not drowned by the background; absent classes get 1."""
    counts = np.bincount(masks[masks != 255].ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    share = counts / max(counts.sum(), 1)
    w = np.ones(num_classes)
    present = counts > 0
    w[present] = share[present] ** -0.5
    w[present] /= w[present].mean()
    return torch.tensor(w, dtype=torch.float32)


@jobs.register("unet_train")
def train_unet(params: dict, ctx) -> dict:
    """Job: train a small U-Net from scratch; per epoch report loss, IoU, Dice and save preview predictions.

    ``params``: :class:`UNetParams`; returns :class:`UNetResult` as a dict.
    Files written: ``preview_images.npy``, ``preview_truth.npy``, ``preview_pred_<epoch>.npy``, ``classes.json``.
    """
    p = UNetParams.from_params(params)
    data = load_training_data(p, getattr(ctx, "inputs", None))
    n_cls = max(len(data.class_names), int(max(data.train_masks[data.train_masks != 255].max(initial=0), 1)) + 1)
    torch.manual_seed(p.seed)
    model = UNet(3, n_cls, p.base, p.depth)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)
    folder = Path(ctx.folder)
    np.save(folder / "preview_images.npy", data.val_images[:PREVIEW])
    np.save(folder / "preview_truth.npy", data.val_masks[:PREVIEW])
    (folder / "classes.json").write_text(json.dumps(list(data.class_names)))
    x = _to_tensor(data.train_images)
    y = torch.from_numpy(data.train_masks).long()
    weight = class_weights(data.train_masks, n_cls)
    gen = torch.Generator().manual_seed(p.seed)
    iou = dice_v = 0.0

    def run_epoch(epoch: int) -> dict[str, float]:
        nonlocal iou, dice_v
        model.train()
        loss = training.train_epoch(
            len(x),
            p.batch_size,
            gen,
            opt,
            lambda idx: F.cross_entropy(model(x[idx]), y[idx], weight=weight, ignore_index=255),
        )
        pred = predict(model, data.val_images)
        iou, dice_v = iou_dice(pred, data.val_masks, n_cls)
        np.save(folder / f"preview_pred_{epoch}.npy", pred[:PREVIEW])
        return {"epoch": epoch, "loss": loss, "iou": iou, "dice": dice_v}

    def restore(state: dict) -> None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])

    training.fit(
        p.epochs,
        run_epoch,
        generator=gen,
        state=lambda: {"model": model.state_dict(), "opt": opt.state_dict()},
        restore=restore,
        resume_from=ctx.load_checkpoint(),
        checkpoint=ctx.save_checkpoint,
        progress=ctx.progress,
    )
    return UNetResult(iou, dice_v, p.epochs, list(data.class_names), count_parameters(model)).to_dict()


def load_previews(folder: Path) -> dict:
    """The preview arrays a U-Net job saved: ``images``, ``truth`` and ``pred`` ({epoch: maps})."""
    folder = Path(folder)
    out: dict = {"images": None, "truth": None, "pred": {}, "classes": []}
    if (folder / "preview_images.npy").is_file():
        out["images"] = np.load(folder / "preview_images.npy", allow_pickle=False)
        out["truth"] = np.load(folder / "preview_truth.npy", allow_pickle=False)
    if (folder / "classes.json").is_file():
        out["classes"] = json.loads((folder / "classes.json").read_text())
    for p in folder.glob("preview_pred_*.npy"):
        out["pred"][int(p.stem.rsplit("_", 1)[1])] = np.load(p, allow_pickle=False)
    return out


def voc_example(objects_only: bool = False, index: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Pair ``index`` of the PASCAL VOC sample that ships with the app, as a job trains on it: the photo, its mask
    (the 21 VOC classes, or with ``objects_only`` every class merged into 'object') and the class names."""
    from cnn_demo.data import datasets

    ds = datasets.load_voc_sample()
    image, mask = ds.images[index], ds.masks[index]
    if objects_only:
        return image, np.where(mask == 255, 255, mask > 0).astype(np.uint8), OBJECT_CLASSES
    return image, mask, tuple(ds.class_names)


def legend(classes: Sequence[str], *maps: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(name, swatch)`` for every label found in ``maps`` (true and predicted masks), in label order: the colour
    key of :func:`preview_grid` (VOC colours; 255 is the ignored border)."""
    from cnn_demo.data.figures import colourise

    present = sorted({int(v) for m in maps for v in np.unique(np.asarray(m))})
    out = []
    for label in present:
        name = "ignored" if label == 255 else (classes[label] if label < len(classes) else f"class {label}")
        out.append((name, colourise(np.full((20, 20), label))))
    return out


def preview_grid(images: np.ndarray, truth: np.ndarray, pred: np.ndarray | None, scale: int = 3) -> np.ndarray:
    """One row per preview image: the picture, the true mask, the predicted mask (VOC colours), enlarged."""
    from cnn_demo.data.figures import colourise

    rows = []
    for i in range(len(images)):
        p = colourise(pred[i]) if pred is not None else np.full_like(images[i], 235)
        rows.append(np.hstack([images[i], colourise(truth[i]), p]))
    grid = np.vstack(rows)
    return grid.repeat(scale, 0).repeat(scale, 1)
