"""Object localization as regression, as in the lecture: a CNN reads an image and outputs four numbers (x, y, w, h).

The data set is generated: one shape (disc, square or triangle) on a noisy, textured background; the target
is its bounding box, top-left corner and size as fractions of the image side. A small CNN (conv blocks, then a
dense head that keeps *where* things are) is trained with the smooth-L1 loss; the IoU of the predicted and
true boxes tells how good the localisation is. :func:`train_localizer` is the job (kind ``localization_train``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnn_demo import jobs, training
from cnn_demo.applications.job_records import LocalizationParams, LocalizationResult
from cnn_demo.applications.metrics import box_iou
from cnn_demo.errors import InputError

SHAPES: tuple[str, ...] = ("disc", "square", "triangle")


def make_localization_data(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images (N, size, size, 3) uint8 with one shape each, their boxes (N, 4) as (x, y, w, h) in pixels
    (top-left corner, width, height) and the shape index (N,). Deterministic for a given seed."""
    if not 1 <= n <= 10000 or not 24 <= size <= 256:
        raise InputError("Generate 1–10000 pictures of 24–256 pixels.")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size, 3), np.uint8)
    boxes = np.empty((n, 4), np.float32)
    kinds = rng.integers(0, len(SHAPES), n)
    for i in range(n):
        bg = rng.uniform(40, 215, 3)
        freq = rng.uniform(0.05, 0.3, 2)
        texture = 25 * np.sin(xx * freq[0] + rng.uniform(0, 6)) * np.cos(yy * freq[1] + rng.uniform(0, 6))
        img = bg + texture[..., None] + rng.normal(0, 10, (size, size, 3))
        w, h = rng.uniform(0.15, 0.5, 2) * size
        if kinds[i] != 2 and rng.random() < 0.5:
            h = w  # some round discs and true squares, some ellipses and rectangles
        x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
        cx, cy = x0 + w / 2, y0 + h / 2
        if kinds[i] == 0:
            mask = ((xx + 0.5 - cx) / (w / 2)) ** 2 + ((yy + 0.5 - cy) / (h / 2)) ** 2 <= 1
        elif kinds[i] == 1:
            mask = (xx + 0.5 >= x0) & (xx + 0.5 <= x0 + w) & (yy + 0.5 >= y0) & (yy + 0.5 <= y0 + h)
        else:  # apex at the top centre, base along the bottom
            t = (yy + 0.5 - y0) / h
            mask = (t >= 0) & (t <= 1) & (np.abs(xx + 0.5 - cx) <= t * w / 2)
        colour = (bg + rng.choice([-1, 1]) * rng.uniform(70, 120, 3)) % 256
        img[mask] = colour
        rows, cols = np.nonzero(mask)
        boxes[i] = (cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min())
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, boxes, kinds


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(x, y, w, h) boxes to corner form (x0, y0, x1, y1)."""
    from torchvision.ops import box_convert

    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    return box_convert(b, "xywh", "xyxy").numpy()


def paired_iou(pred_xywh: np.ndarray, true_xywh: np.ndarray) -> np.ndarray:
    """IoU of each predicted box with its own true box (both (x, y, w, h))."""
    p, t = xywh_to_xyxy(pred_xywh), xywh_to_xyxy(true_xywh)
    return np.array([box_iou(a, b)[0, 0] for a, b in zip(p, t, strict=True)])


class Localizer(nn.Module):
    """Four conv blocks (conv, BatchNorm, ReLU, 2×2 max-pool), then a dense head regressing (x, y, w, h) ∈ [0, 1]."""

    def __init__(self, size: int = 64, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i in range(4):
            cout = width * 2**i
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        side = size // 16
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, 128), nn.ReLU(), nn.Linear(128, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Boxes (N, 4) as fractions of the image side for images (N, 3, H, W) in [0, 1]."""
        return torch.sigmoid(self.head(self.features(x)))


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255.0)


@torch.no_grad()
def predict_boxes(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Predicted (x, y, w, h) boxes in pixels for images (N, H, W, 3) uint8."""
    was = model.training
    model.eval()
    out = model(_tensor(images)).numpy() * images.shape[1]
    model.train(was)
    return out


PREVIEW = 8


def _split(p: LocalizationParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The generated images and (x, y, w, h) boxes of a job: ``n_train`` to train on, then ``n_val`` to check."""
    images, boxes, _ = make_localization_data(p.n_train + p.n_val, p.size, p.seed)
    return images[: p.n_train], boxes[: p.n_train], images[p.n_train :], boxes[p.n_train :]


@jobs.register("localization_train")
def train_localizer(params: dict, ctx) -> dict:
    """Job: train :class:`Localizer` on generated shapes; per epoch report loss, mean IoU and the share of boxes with
    IoU ≥ 0.5, and save the predicted boxes of the first preview images (``predictions.json``).

    ``params``: :class:`LocalizationParams`; returns :class:`LocalizationResult` as a dict.
    """
    p = LocalizationParams.from_params(params)
    train_images, train_boxes, val_images, val_boxes = _split(p)
    x = _tensor(train_images)
    y = torch.from_numpy(train_boxes / p.size)
    torch.manual_seed(p.seed)
    model = Localizer(p.size, p.width)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)
    preds_path = Path(ctx.folder) / "predictions.json"
    history: dict = {}
    gen = torch.Generator().manual_seed(p.seed)
    last = {"iou": 0.0, "iou>=0.5": 0.0}

    def run_epoch(epoch: int) -> dict[str, float]:
        model.train()
        loss = training.train_epoch(
            p.n_train, p.batch_size, gen, opt, lambda idx: F.smooth_l1_loss(model(x[idx]), y[idx], beta=0.05)
        )
        pred = predict_boxes(model, val_images)
        ious = paired_iou(pred, val_boxes)
        last.update({"iou": float(ious.mean()), "iou>=0.5": float((ious >= 0.5).mean())})
        history[epoch] = np.round(pred[:PREVIEW], 2).tolist()
        preds_path.write_text(json.dumps(history))
        return {"epoch": epoch, "loss": loss, **last}

    resumed = ctx.load_checkpoint()

    def restore(state: dict) -> None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if preds_path.is_file():
            done = resumed[1] if resumed else 0
            history.update({int(k): v for k, v in json.loads(preds_path.read_text()).items() if int(k) <= done})

    training.fit(
        p.epochs,
        run_epoch,
        generator=gen,
        state=lambda: {"model": model.state_dict(), "opt": opt.state_dict()},
        restore=restore,
        resume_from=resumed,
        checkpoint=ctx.save_checkpoint,
        progress=ctx.progress,
    )
    return LocalizationResult(last["iou"], last["iou>=0.5"], p.epochs, p.size, p.seed, p.n_train).to_dict()


def preview_data(params: LocalizationParams | Mapping) -> tuple[np.ndarray, np.ndarray]:
    """The preview images and their true (x, y, w, h) boxes of a localization job (regenerated from its seed)."""
    p = params if isinstance(params, LocalizationParams) else LocalizationParams.from_params(params)
    _, _, images, boxes = _split(p)
    return images[:PREVIEW], boxes[:PREVIEW]


def load_predictions(folder: Path) -> dict[int, np.ndarray]:
    """The predicted preview boxes per epoch that a localization job saved."""
    path = Path(folder) / "predictions.json"
    if not path.is_file():
        return {}
    return {int(k): np.asarray(v, dtype=np.float64) for k, v in json.loads(path.read_text()).items()}


#: Box colours of :func:`draw_boxes`, and the dark edge each line gets so it shows on a shape of its own colour.
TRUE_COLOUR, PRED_COLOUR, HALO_COLOUR = (0, 200, 0), (230, 0, 0), (20, 20, 20)


def draw_boxes(image: np.ndarray, true_xywh, pred_xywh=None, scale: int = 4) -> np.ndarray:
    """The image enlarged ``scale`` times with the true box in green and the predicted box in red.

    Each box is a 2-pixel line between two dark 1-pixel edges: a green box on a green shape (the shapes take any
    colour) would otherwise vanish.
    """
    from torchvision.utils import draw_bounding_boxes

    big = np.ascontiguousarray(image.repeat(scale, 0).repeat(scale, 1))
    boxes = [xywh_to_xyxy(true_xywh)[0] * scale]
    colours = [TRUE_COLOUR]
    if pred_xywh is not None:
        boxes.append(xywh_to_xyxy(pred_xywh)[0] * scale)
        colours.append(PRED_COLOUR)
    lines = torch.tensor(np.array(boxes), dtype=torch.float32)
    grown = lines + torch.tensor([-1.0, -1.0, 1.0, 1.0])  # PIL draws a line's width inward from the box
    t = torch.from_numpy(big).permute(2, 0, 1)
    t = draw_bounding_boxes(t, grown, colors=[HALO_COLOUR] * len(boxes), width=4)
    out = draw_bounding_boxes(t, lines, colors=colours, width=2)
    return out.permute(1, 2, 0).numpy()
