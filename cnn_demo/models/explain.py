"""What a CNN looks at: first-layer filters, activation maps of any conv layer, and Grad-CAM.

These functions read a model without changing it, so they work on the app's shared models: layer outputs are
captured by forward hooks that exist only during the call and record only calls made from the same context
(another user's forward pass through the same model is ignored).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.utils import make_grid

from cnn_demo.errors import InputError
from cnn_demo.models.data import DataConfig, transform

_CAPTURE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("cnn_demo_capture", default=None)


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the model's 2-D convolution layers, from input to output."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` of the model (the layer that looks at the pixels)."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return name, m
    raise InputError(f"{type(model).__name__} has no convolution layer.")


def first_layer_filters(model: nn.Module) -> np.ndarray:
    """The first conv layer's weights as an (out_channels, in_channels, k_h, k_w) array."""
    return first_conv(model)[1].weight.detach().float().cpu().numpy()


def filters_as_images(weights: np.ndarray) -> np.ndarray:
    """Filters scaled for display: (N, k, k, 3) uint8 for RGB filters, (N, k, k) otherwise.

    Each filter is scaled symmetrically around 0 (mid-grey = 0) by its own largest absolute weight.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4:
        raise InputError("Expected conv weights of shape (out, in, k_h, k_w).")
    scale = np.abs(w).reshape(len(w), -1).max(axis=1).reshape(-1, 1, 1, 1)
    scaled = 127.5 + 127.5 * w / np.where(scale > 0, scale, 1.0)
    out = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return out.transpose(0, 2, 3, 1) if w.shape[1] == 3 else out.mean(axis=1).astype(np.uint8)


def preprocess(image: Image.Image, cfg: DataConfig) -> torch.Tensor:
    """A PIL image as the (1, C, H, W) batch the model expects (the evaluation transform of ``cfg``)."""
    return transform(cfg)(image.convert("RGB")).unsqueeze(0)


def crop_box(size: tuple[int, int], cfg: DataConfig) -> tuple[float, float, float, float]:
    """The part of a ``size`` = (width, height) picture the evaluation transform keeps: (left, top, right, bottom).

    In the picture's own pixels. The transform resizes the shorter side (as torchvision's ``Resize`` rounds) and
    centre-crops ``cfg.input_size``, so a 640×400 photo loses its sides; the page draws this box on it.
    """
    width, height = size
    out_h, out_w = cfg.input_size[1:]
    if out_h == out_w:
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = cfg.resize_size, int(cfg.resize_size * long / short)
        rw, rh = (new_short, new_long) if width <= height else (new_long, new_short)
    else:
        rh, rw = (math.floor(s / cfg.crop_pct + 1e-6) for s in (out_h, out_w))
    top, left = round((rh - out_h) / 2.0), round((rw - out_w) / 2.0)  # as CenterCrop rounds
    sx, sy = width / rw, height / rh
    return left * sx, top * sy, (left + out_w) * sx, (top + out_h) * sy


def crops_away(box: tuple[float, float, float, float], size: tuple[int, int], tolerance: float = 0.5) -> bool:
    """Whether :func:`crop_box` cuts off more than ``tolerance`` pixels of a ``size`` = (width, height) picture."""
    left, top, right, bottom = box
    return left > tolerance or top > tolerance or size[0] - right > tolerance or size[1] - bottom > tolerance


def model_view(batch: torch.Tensor, cfg: DataConfig) -> np.ndarray:
    """The preprocessed image the model actually sees, un-normalised to an H×W×3 uint8 array."""
    mean = torch.tensor(cfg.mean).view(3, 1, 1)
    std = torch.tensor(cfg.std).view(3, 1, 1)
    img = (batch[0].detach().cpu() * std + mean).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@contextlib.contextmanager
def _capture(model: nn.Module, layer: str, keep_graph: bool = False) -> Iterator[dict]:
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise InputError(f"The model has no layer called {layer!r}.") from None
    store: dict = {}
    token = _CAPTURE.set(store)

    def hook(mod: nn.Module, args: tuple, out: object) -> object:
        mine = _CAPTURE.get()
        if mine is not store or not isinstance(out, torch.Tensor):
            return None
        # A later in-place op (ReLU(inplace=True)) must not change what was captured.
        if keep_graph:
            store["out"] = out
            return out.clone()
        store["out"] = out.detach().clone()
        return None

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()
        _CAPTURE.reset(token)


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def activation_maps(model: nn.Module, batch: torch.Tensor, layer: str) -> np.ndarray:
    """The output of ``layer`` for the first image of ``batch``: a (channels, H, W) array."""
    with _capture(model, layer) as store, torch.no_grad():
        logits = model(batch.to(_device(model)))
    out = store.get("out")
    if out is None or out.ndim != 4:
        raise InputError(f"The layer {layer!r} does not produce feature maps (its output is not an image-like grid).")
    del logits
    return out[0].detach().float().cpu().numpy().copy()


def tile_images(images: np.ndarray, columns: int, pad: int, pad_value: float, scale_each: bool = False) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) images laid out in rows of ``columns`` by ``torchvision.utils.make_grid``.

    ``pad`` pixels of ``pad_value`` between the images and none around the grid; empty cells of the last row hold
    ``pad_value`` too. ``scale_each`` stretches each image to 0..1 on its own first. Returns (rows, cols[, C]).
    """
    arr = np.asarray(images)
    colour = arr.ndim == 4
    batch = torch.from_numpy(np.ascontiguousarray(arr))
    batch = batch.permute(0, 3, 1, 2) if colour else batch[:, None]
    grid = make_grid(
        batch, nrow=max(1, columns), padding=pad, normalize=scale_each, scale_each=scale_each, pad_value=pad_value
    )
    edge = pad if len(arr) > 1 else 0  # make_grid returns a single image as it is, without a border
    grid = grid[:, edge : grid.shape[1] - edge, edge : grid.shape[2] - edge]
    return grid.permute(1, 2, 0).numpy() if colour else grid[0].numpy()


def tile_maps(maps: np.ndarray, columns: int = 8, count: int = 32, pad: int = 1) -> np.ndarray:
    """The first ``count`` feature maps tiled into one grid (each scaled to 0..255 on its own; NaN between them)."""
    m = np.asarray(maps, dtype=np.float64)[:count]
    if m.ndim != 3 or len(m) == 0:
        raise InputError("Expected feature maps of shape (channels, H, W).")
    # Gaps are NaN (drawn as the page background), not a value: any value has a colour that means a response.
    return tile_images(m, columns, pad, float("nan"), scale_each=True) * 255.0


@dataclass(frozen=True)
class Prediction:
    """One class score of a classifier: index, label and softmax probability."""

    index: int
    label: str
    probability: float


def predict(
    model: nn.Module, batch: torch.Tensor, labels: tuple[str, ...] | list[str], top: int = 5
) -> list[Prediction]:
    """The ``top`` most probable classes for the first image of ``batch``."""
    with torch.no_grad():
        probs = model(batch.to(_device(model))).softmax(dim=1)[0].float().cpu()
    values, indices = probs.topk(min(top, probs.numel()))
    return [
        Prediction(int(i), labels[int(i)] if int(i) < len(labels) else f"class {int(i)}", float(v))
        for v, i in zip(values, indices, strict=True)
    ]


def gradcam_layers(model: nn.Module) -> list[str]:
    """Layers Grad-CAM can use: the named backbone stages (``layer4``, ``features.7``), then every conv layer."""
    from cnn_demo.models.surgery import named_stages

    modules = dict(model.named_modules())
    blocks = [n for n, m in named_stages(model) if modules.get(n) is m]
    return blocks + [c for c in conv_layers(model) if c not in blocks]


def default_gradcam_layer(model: nn.Module, input_size: tuple[int, int, int]) -> str:
    """The last backbone stage (else conv layer) whose output is still a spatial grid larger than 1×1."""
    candidates = gradcam_layers(model)
    shapes: dict[str, tuple[int, ...]] = {}
    mine: dict = {}

    def record(name: str):
        def hook(m: nn.Module, args: tuple, out: object) -> None:
            if _CAPTURE.get() is mine and isinstance(out, torch.Tensor):
                shapes[name] = tuple(out.shape)

        return hook

    handles = [model.get_submodule(n).register_forward_hook(record(n)) for n in candidates]
    token = _CAPTURE.set(mine)
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_size), device=_device(model)))
    finally:
        _CAPTURE.reset(token)
        for h in handles:
            h.remove()

    def spatial(n: str) -> bool:
        return len(shapes.get(n, ())) == 4 and shapes[n][2] * shapes[n][3] > 1

    blocks = [n for n in candidates if spatial(n) and not isinstance(model.get_submodule(n), nn.Conv2d)]
    convs = [n for n in candidates if spatial(n)]
    if not convs:
        raise InputError("This model has no layer with a spatial output for Grad-CAM.")
    return (blocks or convs)[-1]


def grad_cam(model: nn.Module, batch: torch.Tensor, layer: str, class_index: int) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of ``class_index`` at ``layer``, at the layer's resolution.

    With A the layer's feature maps and y the class score (logit): weights α_k = mean over pixels of ∂y/∂A_k,
    map = ReLU(Σ_k α_k A_k), scaled to 0..1. The model's parameters are not touched (no gradients accumulate).
    """
    x = batch.to(_device(model)).detach().clone().requires_grad_(True)
    with _capture(model, layer, keep_graph=True) as store, torch.enable_grad():
        logits = model(x)
        if not 0 <= class_index < logits.shape[1]:
            raise InputError(f"The class index must be between 0 and {logits.shape[1] - 1}.")
        acts = store.get("out")
        if acts is None or acts.ndim != 4:
            raise InputError(f"The layer {layer!r} does not produce feature maps, so Grad-CAM cannot use it.")
        (grads,) = torch.autograd.grad(logits[0, class_index], acts)
    weights = grads[0].mean(dim=(1, 2))
    cam = F.relu((weights.view(-1, 1, 1) * acts[0].detach()).sum(dim=0))
    top = cam.max()
    cam = cam / top if top > 0 else cam
    return cam.float().cpu().numpy()


def upsample_map(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A coarse map resized bilinearly to (H, W)."""
    t = torch.as_tensor(np.asarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


_JET = np.array([[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]], dtype=float)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A 0..1 heat map drawn over an H×W×3 uint8 image in a blue-to-red colour map."""
    img = np.asarray(image, dtype=np.float64)
    h = upsample_map(heat, img.shape[:2]) if heat.shape != img.shape[:2] else np.asarray(heat, dtype=np.float64)
    pos = np.clip(h, 0, 1) * (len(_JET) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(_JET) - 1)
    frac = (pos - lo)[..., None]
    colour = _JET[lo] * (1 - frac) + _JET[hi] * frac
    return np.clip(np.rint((1 - alpha) * img + alpha * colour), 0, 255).astype(np.uint8)
